// backupd as an object: the control store, the gRPC services (CollectionRepo,
// BackupJobs, health, reflection) on one port, and the embedded worker pool. main() and
// the integration tests both run it, so tests exercise the real server over loopback.
// Thread-safety: Start() and Shutdown() from one controlling thread.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/server.h>

#include "common/change_watcher.h"
#include "common/control_store.h"
#include "server/backup_jobs_service.h"
#include "server/collection_repo_service.h"
#include "worker/worker_pool.h"

namespace backup {

struct BackupServerOptions {
  std::filesystem::path data_dir = "./data";
  std::string listen = "127.0.0.1:50051";  // port 0 picks a free port (see port())
  // Further folders backups may be written to, besides <data_dir>/backups.
  std::vector<std::filesystem::path> extra_backup_roots;
  WorkerPoolOptions worker;  // worker.threads = 0: front-end only
  int default_max_attempts = 3;
  WaitOptions wait;
  int64_t shutdown_deadline_ms = 2'000;  // open streams are cancelled after this
};

class BackupServer {
 public:
  // Opens the data directory and starts serving. Fails when the data directory or the
  // control database cannot be opened, or the address cannot be bound.
  static Result<std::unique_ptr<BackupServer>> Start(BackupServerOptions options);
  ~BackupServer();

  int port() const { return port_; }
  ControlStore& store() { return *store_; }
  // Stops accepting calls, cancels open streams after the deadline, stops the workers.
  void Shutdown();
  // Blocks until Shutdown() has completed.
  void Wait();

 private:
  BackupServer() = default;

  BackupServerOptions options_;
  std::unique_ptr<ControlStore> store_;
  std::unique_ptr<ChangeWatcher> watcher_;  // wakes us on other processes' writes
  ServiceContext context_;
  std::unique_ptr<CollectionRepoService> repo_service_;
  std::unique_ptr<BackupJobsService> jobs_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<WorkerPool> pool_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace backup
