// One function per backupctl command. Each returns the process exit code.
#pragma once

#include <string>
#include <vector>

#include "cli/client.h"

namespace backup::cli {

struct CollectionArgs {
  std::string collection;  // NS/NAME, or NS for list
  std::vector<std::string> labels;
  int page_size = 0;
  std::string page_token;
};
int CollectionsCreate(Client& client, const CollectionArgs& args);
int CollectionsList(Client& client, const CollectionArgs& args);

struct BackupArgs {
  std::string collection;
  bool files = false;
  std::string dest;
  std::string store;
  std::vector<std::string> tags;
  bool wait = false;
  int max_attempts = 0;
};
int Backup(Client& client, const BackupArgs& args);

struct BackupsListArgs {
  std::string filter;  // NS or NS/NAME
  std::string since;
  int limit = 0;
  std::string page_token;
};
int BackupsList(Client& client, const BackupsListArgs& args);

struct RestoreArgs {
  std::string backup_id;
  std::string dest;  // NS/NAME
  bool overwrite = false;
  bool wait = false;
};
int Restore(Client& client, const RestoreArgs& args);
int Verify(Client& client, const std::string& backup_id, bool wait, bool quick);
int Delete(Client& client, const std::string& backup_id);

struct JobsListArgs {
  std::string state;
  std::string kind;
  std::string collection;
  int page_size = 0;
  std::string page_token;
};
int JobsList(Client& client, const JobsListArgs& args);
int JobsGet(Client& client, const std::string& job_id);
int JobsCancel(Client& client, const std::string& job_id);

struct NewTokenArgs {
  std::string name;
  std::string role = "viewer";
  std::vector<std::string> namespaces;
};
// Prints a new random token and the auth-file entry that admits it; needs no server.
int AuthNewToken(const NewTokenArgs& args);

}  // namespace backup::cli
