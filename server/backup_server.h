// backupd as an object: the worker host (control store, change watcher, embedded worker
// pool) and the gRPC services (CollectionRepo, BackupJobs, health, reflection) on one port. main()
// and the integration tests both run it, so tests exercise the real server over loopback.
// Thread-safety: Start() and Shutdown() from one controlling thread.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/server.h>
#include <asio/thread_pool.hpp>

#include "server/backup_jobs_service.h"
#include "server/backup_policies_service.h"
#include "server/collection_repo_service.h"
#include "server/dashboard.h"
#include "server/tls.h"
#include "worker/worker_host.h"

namespace backup {

struct BackupServerOptions {
  WorkerHostOptions host;  // data root, backup roots, pool (pool.threads = 0: front-end only)
  std::string listen = "127.0.0.1:50051";  // port 0 picks a free port (see port())
  int default_max_attempts = 3;
  WatchHubOptions watch;                 // the cap on open WatchJob streams and waiting calls
  int call_threads = 32;                 // run the database work of callback-API calls
  bool wait_by_default = true;           // see ServiceContext::wait_by_default
  int64_t shutdown_deadline_ms = 2'000;  // open streams are cancelled after this
  TlsOptions tls;                        // no cert: plaintext
  std::optional<std::filesystem::path> auth_file;  // none: every caller is an admin
  // Serve a non-loopback address without TLS and an auth file (logged as a warning).
  bool insecure = false;
};

class BackupServer {
 public:
  // Opens the data directory and starts serving. Fails when the data directory or the
  // control database cannot be opened, the TLS files or auth file are unusable, the
  // address is not loopback and the server would be open (no TLS or no auth file, without
  // `insecure`), or the address cannot be bound.
  static Result<std::unique_ptr<BackupServer>> Start(BackupServerOptions options);
  ~BackupServer();

  int port() const { return port_; }
  // The HTTP side's port (/metrics, the dashboard); 0 without host.http_listen.
  int http_port() const { return host_->http_port(); }
  // Open WatchJob streams and calls waiting for their job.
  int watchers() const { return hub_->followers(); }
  ControlStore& store() { return host_->store(); }
  WorkerHost& host() { return *host_; }
  // Re-reads the auth file (SIGHUP); on error the previous tokens stay in force.
  Status ReloadAuth() { return access_->Reload(); }
  // Stops accepting calls, cancels open streams after the deadline, stops the workers.
  void Shutdown();
  // Blocks until Shutdown() has completed.
  void Wait();

 private:
  BackupServer() = default;
  // The HTTP side: /metrics and the dashboard on host.http_listen.
  Status ServeHttp();

  BackupServerOptions options_;
  std::unique_ptr<WorkerHost> host_;
  std::unique_ptr<AccessControl> access_;
  std::unique_ptr<JobWatchHub> hub_;
  std::unique_ptr<asio::thread_pool> call_pool_;
  ServiceContext context_;
  std::unique_ptr<CollectionRepoService> repo_service_;
  std::unique_ptr<BackupJobsService> jobs_service_;
  std::unique_ptr<BackupPoliciesService> policies_service_;
  std::unique_ptr<Dashboard> dashboard_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace backup
