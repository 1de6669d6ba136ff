// backupctl policies ... and backups forget: backup policies and their retention.
#pragma once

#include <string>
#include <vector>

#include "cli/client.h"

namespace backup::cli {

struct PolicyArgs {
  std::string name;
  std::string selector;  // NS or NS/NAME
  std::vector<std::string> labels;
  std::string schedule;
  std::string store;
  bool files = false;
  int keep_last = 0, keep_daily = 0, keep_weekly = 0, keep_monthly = 0;
  std::string keep_within;
  bool verify = false;
  std::string jitter;
  bool paused = false;
};
int PoliciesCreate(Client& client, const PolicyArgs& args);
int PoliciesUpdate(Client& client, const PolicyArgs& args);
int PoliciesList(Client& client);
int PoliciesGet(Client& client, const std::string& name);
int PoliciesDelete(Client& client, const std::string& name);
int PoliciesSetPaused(Client& client, const std::string& name, bool paused);

struct ForgetArgs {
  std::string policy;
  std::string collection;  // NS/NAME; empty: every collection the policy selects
  bool dry_run = false;
};
int BackupsForget(Client& client, const ForgetArgs& args);

}  // namespace backup::cli
