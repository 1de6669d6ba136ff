// Everything a process that runs jobs needs, assembled once for backupd and backup-worker
// alike: the data root and backup roots, the control store, the change watcher that wakes
// this process on other processes' writes, the start-up sweep of restore leftovers, and
// the worker pool with a handler for every job kind.
//
// Thread-safety: Open(), StartPool() and Stop() from one controlling thread; the stores
// it hands out are safe from any thread.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "common/data_layout.h"
#include "common/http_endpoint.h"
#include "control/control_store.h"
#include "control/sqlite/change_watcher.h"
#include "storage/store_set.h"
#include "worker/policy_scheduler.h"
#include "worker/process_metrics.h"
#include "worker/worker_pool.h"

namespace backup {

struct WorkerHostOptions {
  std::filesystem::path data_dir = "./data";
  // The control database: empty for SQLite at <data_dir>/control.db (one host), or a
  // postgres:// URI (a fleet of hosts sharing one queue).
  std::string control;
  // The node (host) this process runs on, in a fleet sharing a PostgreSQL control
  // database: it claims only that node's jobs and those of none (control/node_routing.h).
  // Empty: the host name with PostgreSQL; always "" with SQLite (one host).
  std::string node;
  // How long a PostgreSQL server that cannot be reached (down, restarting) is waited for
  // at start, trying again with backoff, before Open() fails.
  int64_t control_wait_ms = 60'000;
  // Further folders backups may be written to, besides <data_dir>/backups (must exist).
  std::vector<std::filesystem::path> extra_backup_roots;
  WorkerPoolOptions pool;  // pool.threads = 0: this process runs no jobs
  // How long a restore's swap waits for an application's lock on the destination.
  int restore_lock_wait_ms = 10'000;
  // The backup stores (besides "local", <data_dir>/store), compression and keys.
  StoreSetOptions stores;
  // Backup policies: this process runs their slots too (see PolicyScheduler).
  bool run_policies = true;
  PolicySchedulerOptions policies;
  // HOST:PORT of the HTTP side (GET /metrics, and what ServeHttp adds); empty: none.
  std::string http_listen;
};

class WorkerHost {
 public:
  // Creates the data root and <data_dir>/backups, opens the backup stores and checks that
  // each is reachable and writable (the error names the one that is not), opens and
  // migrates the control store (SQLite under the data root, or PostgreSQL), with SQLite
  // starts the change watcher (polling only, with a warning, where inotify is missing)
  // and sweeps restore leftovers. Fails when a folder or the store cannot be opened.
  static Result<std::unique_ptr<WorkerHost>> Open(WorkerHostOptions options);
  ~WorkerHost();

  // Serves GET /metrics and `routes` on http_listen (nothing when it is empty), every
  // handler wrapped by `guard` when given (backupd checks tokens there), over HTTPS with
  // `tls` files when set. With `loopback_only`, a non-loopback address is refused.
  Status ServeHttp(std::map<std::string, HttpHandler> routes,
                   const std::function<HttpHandler(HttpHandler)>& guard,
                   const HttpEndpointOptions& tls, bool loopback_only);

  // Starts claiming jobs (nothing when pool.threads is 0) and, with run_policies, the
  // policy scheduler.
  void StartPool();
  // Stops the scheduler, then the pool as WorkerPool::Stop() does. Idempotent.
  void Stop();

  ControlStore& store() { return *store_; }
  JobQueue& jobs() { return *store_; }
  Catalog& catalog() { return *store_; }
  PolicyStore& policies() { return *store_; }
  const DataLayout& layout() const { return layout_; }
  const StoreSet& stores() const { return *stores_; }
  // The port /metrics is served on; 0 without http_listen.
  int http_port() const { return http_ ? http_->port() : 0; }
  ProcessMetrics& metrics() { return *metrics_; }
  // Absolute; the first is <data_dir>/backups, the default destination.
  const std::vector<std::filesystem::path>& backup_roots() const { return backup_roots_; }
  // The node this process runs on ("" on a single host).
  const std::string& node() const { return options_.node; }

 private:
  explicit WorkerHost(WorkerHostOptions options);
  // Opens PostgreSQL at options_.control, waiting up to control_wait_ms for a server that
  // cannot be reached.
  Result<std::unique_ptr<ControlStore>> OpenPostgres() const;
  // Opens options_.control (and, for SQLite, the change watcher).
  Status OpenControlStore();
  void MakePool();

  WorkerHostOptions options_;
  DataLayout layout_;
  std::vector<std::filesystem::path> backup_roots_;
  std::unique_ptr<ControlStore> store_;
  std::unique_ptr<StoreSet> stores_;
  std::unique_ptr<ChangeWatcher> watcher_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<PolicyScheduler> scheduler_;
  std::unique_ptr<ProcessMetrics> metrics_;
  std::unique_ptr<HttpEndpoint> http_;
};

}  // namespace backup
