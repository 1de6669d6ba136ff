#include "worker/worker_host.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "common/names.h"
#include "control/postgres/postgres_control_store.h"
#include "control/sqlite/sqlite_control_store.h"
#include "worker/backup_job.h"
#include "worker/delete_job.h"
#include "worker/restore_job.h"
#include "worker/verify_job.h"

namespace backup {
namespace fs = std::filesystem;
namespace {

Result<std::vector<fs::path>> BackupRoots(const DataLayout& layout,
                                          const std::vector<fs::path>& extra) {
  BACKUP_TRY(CreateDirs(layout.BackupsRoot()), "backup root");
  std::vector<fs::path> roots{fs::weakly_canonical(layout.BackupsRoot())};
  for (const fs::path& root : extra) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
      return Fail(Error::InvalidArgument("backup root " + root.string() + " is not a directory"));
    }
    roots.push_back(fs::weakly_canonical(fs::absolute(root)));
  }
  return roots;
}

// Removes what jobs that have ended left in <data>/staging (a snapshot or a verify's copy
// of a job killed on its last attempt, or killed after it recorded its end). Files of jobs
// still queued or running are kept: their next attempt removes them itself. Returns false
// when a file's job could not be read (the control database is unreachable): run again.
bool SweepStaging(JobQueue& jobs, Catalog& catalog, const fs::path& staging) {
  bool decided = true;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(staging, ec)) {
    const std::string name = entry.path().filename().string();
    const std::string id = name.substr(0, name.find('.'));
    std::string job_id = id;
    if (id.starts_with("backup-")) {
      auto backup = catalog.GetBackup(id);
      if (!backup && backup.error().code() != Code::kNotFound) {
        decided = false;  // unreachable: never remove what a running job may be using
        continue;
      }
      job_id = backup ? backup->job_id : "";
    }
    auto job = job_id.empty() ? Result<Job>(Fail(Error::NotFound(""))) : jobs.GetJob(job_id);
    if (job && !IsTerminal(job->state)) continue;
    if (!job && job.error().code() != Code::kNotFound) {
      decided = false;
      continue;
    }
    spdlog::info("job={} removing staged leftover {}", job_id, entry.path().string());
    if (auto removed = RemoveAll(entry.path()); !removed) {
      spdlog::warn("sweep of {}: {}", entry.path().string(), removed.error().message());
    }
  }
  return decided;
}

}  // namespace

WorkerHost::WorkerHost(WorkerHostOptions options)
    : options_(std::move(options)), layout_(options_.data_dir) {}

WorkerHost::~WorkerHost() { Stop(); }

Result<std::unique_ptr<WorkerHost>> WorkerHost::Open(WorkerHostOptions options) {
  std::unique_ptr<WorkerHost> host(new WorkerHost(std::move(options)));
  const DataLayout& layout = host->layout_;
  BACKUP_TRY(CreateDirs(layout.root()), "data directory");
  auto roots = BackupRoots(layout, host->options_.extra_backup_roots);
  if (!roots) return Fail(roots.error());
  host->backup_roots_ = std::move(*roots);
  auto stores = StoreSet::Open(host->options_.stores, layout.root() / "store");
  if (!stores) return Fail(stores.error());
  BACKUP_TRY((*stores)->CheckAll(), "backup stores");
  host->stores_ = std::move(*stores);
  BACKUP_TRY(host->OpenControlStore(), "control database");
  SweepStaging(host->jobs(), host->catalog(), layout.root() / "staging");
  if (auto swept = SweepRestoreLeftovers(host->jobs(), host->catalog(), layout); !swept) {
    spdlog::warn("sweep of restore leftovers: {}", swept.error().message());
  }
  host->MakePool();
  host->metrics_ =
      std::make_unique<ProcessMetrics>(host->jobs(), host->catalog(), host->policies());
  return host;
}

namespace {

Result<std::string> HostName() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) {
    return Fail(Error::Internal(std::string("gethostname: ") + std::strerror(errno)));
  }
  return std::string(host);
}

}  // namespace

Result<std::unique_ptr<ControlStore>> WorkerHost::OpenPostgres() const {
  const auto start = std::chrono::steady_clock::now();
  for (int64_t backoff_ms = 100;; backoff_ms = std::min<int64_t>(backoff_ms * 2, 5'000)) {
    auto store = PostgresControlStore::Open({.conninfo = options_.control, .node = options_.node});
    if (store) return std::unique_ptr<ControlStore>(std::move(*store));
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    if (store.error().code() != Code::kUnavailable || waited.count() >= options_.control_wait_ms) {
      return Fail(store.error());
    }
    spdlog::warn("control database {} cannot be reached yet ({}); trying again in {} ms",
                 RedactConnInfo(options_.control), store.error().message(), backoff_ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
  }
}

Status WorkerHost::OpenControlStore() {
  if (IsPostgresSpec(options_.control)) {
    if (options_.node.empty()) {
      auto host = HostName();
      if (!host) return Fail(host.error().Context("--node (default: the host name)"));
      options_.node = *host;
    }
    BACKUP_TRY(ValidateName(options_.node, "node"), "--node");
    // PostgreSQL wakes this process by LISTEN/NOTIFY itself.
    auto store = OpenPostgres();
    if (!store) return Fail(store.error());
    store_ = std::move(*store);
    spdlog::info("control database: PostgreSQL at {}, node {}", RedactConnInfo(options_.control),
                 options_.node);
    return {};
  }
  if (!options_.control.empty()) {
    return Fail(Error::InvalidArgument("--control " + RedactConnInfo(options_.control) +
                                       ": not a postgres:// or postgresql:// URI (leave it "
                                       "unset for SQLite under the data root)"));
  }
  if (!options_.node.empty()) {
    return Fail(Error::InvalidArgument(
        "--node " + options_.node.substr(0, 64) +
        ": nodes are for a fleet sharing a PostgreSQL control database (--control); the "
        "SQLite one stays on one host"));
  }
  auto store = SqliteControlStore::Open({.path = layout_.ControlDb().string()});
  if (!store) return Fail(store.error());
  auto watcher = ChangeWatcher::Start(**store, layout_.ControlDb());
  if (watcher) {
    watcher_ = std::move(*watcher);
  } else {
    spdlog::warn("changes by other processes will be seen by polling only: {}",
                 watcher.error().message());
  }
  store_ = std::move(*store);
  return {};
}

Status WorkerHost::ServeHttp(std::map<std::string, HttpHandler> routes,
                             const std::function<HttpHandler(HttpHandler)>& guard,
                             const HttpEndpointOptions& tls, bool loopback_only) {
  if (options_.http_listen.empty()) return {};
  auto address = ParseHostPort(options_.http_listen);
  if (!address) return Fail(address.error().Context("--http-listen"));
  if (loopback_only && !IsLoopbackHost(address->first)) {
    return Fail(Error::FailedPrecondition(
        "--http-listen " + options_.http_listen +
        ": serves loopback only (127.0.0.1, ::1, localhost) unless it has TLS and tokens "
        "(backupd with --tls-cert, --tls-key and --auth-file)"));
  }
  routes["/metrics"] = [metrics = metrics_.get()](const HttpRequest&) {
    return HttpAnswer{.content_type = kPrometheusContentType, .body = metrics->Render()};
  };
  if (guard) {
    for (auto& [path, handler] : routes) handler = guard(std::move(handler));
  }
  HttpEndpointOptions options = tls;
  options.host = address->first;
  options.port = address->second;
  auto http = HttpEndpoint::Start(options, routes);
  if (!http) return Fail(http.error());
  http_ = std::move(*http);
  spdlog::info("serving HTTP{} on {}:{}", options.tls_cert.empty() ? "" : "S", options.host,
               http_->port());
  return {};
}

void WorkerHost::MakePool() {
  pool_ = std::make_unique<WorkerPool>(jobs(), options_.pool);
  pool_->SetSweep([this] { return SweepStaging(jobs(), catalog(), layout_.root() / "staging"); });
  pool_->SetHandler(JobKind::kBackup,
                    std::make_unique<BackupJob>(
                        catalog(), store_->clock(),
                        BackupJobOptions{.data_root = layout_.root(),
                                         .backup_roots = backup_roots_,
                                         .stores = stores_.get(),
                                         .index_cache_dir = layout_.PackIndexCacheDir()}));
  pool_->SetHandler(
      JobKind::kRestore,
      std::make_unique<RestoreJob>(catalog(), layout_,
                                   RestoreJobOptions{.lock_wait_ms = options_.restore_lock_wait_ms,
                                                     .stores = stores_.get()}));
  pool_->SetHandler(JobKind::kVerify,
                    std::make_unique<VerifyJob>(
                        catalog(), store_->clock(),
                        VerifyJobOptions{.data_root = layout_.root(), .stores = stores_.get()}));
  pool_->SetHandler(JobKind::kDelete, std::make_unique<DeleteJob>(
                                          catalog(), DeleteJobOptions{.backup_roots = backup_roots_,
                                                                      .stores = stores_.get()}));
}

void WorkerHost::StartPool() {
  pool_->SetMetrics(&metrics_->jobs());
  pool_->Start();
  if (options_.run_policies && !scheduler_) {
    PolicySchedulerOptions scheduling = options_.policies;
    scheduling.node = options_.node;
    scheduler_ = std::make_unique<PolicyScheduler>(policies(), catalog(), jobs(), *stores_,
                                                   backup_roots_, scheduling);
    scheduler_->Start();
  }
}

void WorkerHost::Stop() {
  http_.reset();
  if (scheduler_) scheduler_->Stop();
  if (pool_) pool_->Stop();
}

}  // namespace backup
