// The command-line flags every process that hosts workers takes (backupd and
// backup-worker): data root, backup roots, worker threads, lease, shutdown grace, job
// retention, logging. Each binary adds its own flags beside these.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "worker/worker_host.h"

namespace backup {

struct HostFlags {
  std::string data_dir = "./data";
  std::string control;
  std::string node;
  std::vector<std::string> backup_roots;
  int workers = 2;  // replaced by the number of cores in AddHostFlags
  double lease_s = 30;
  double grace_s = 10;
  double restore_lock_wait_s = 10;
  double retention_days = 7;
  std::string log_format = "text";
  std::string log_level = "info";
  std::vector<std::string> stores;
  std::string default_store = "local";
  std::string credentials_file;
  std::string backup_format = "archive";
  int chunk_kib = 0;
  std::string snapshot = "pages";
  std::string compression;  // "": the format's default (StoreSetOptions)
  std::string key_file;
  std::vector<std::string> old_key_files;
  std::string http_listen;

  WorkerHostOptions ToOptions() const;
};

// Registers the flags on `app`. `min_workers` is 0 where a process may run no jobs.
void AddHostFlags(CLI::App& app, HostFlags& flags, int min_workers);

// Sets up logging from the flags; prints to stderr and returns false on a bad value.
bool InitLoggingFromFlags(const HostFlags& flags, const char* program);

}  // namespace backup
