#include "worker/worker_host.h"

#include <system_error>

#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "worker/backup_job.h"
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
// of a job killed on its last attempt). Files of jobs still queued or running are kept:
// their next attempt removes them itself.
void SweepStaging(JobQueue& jobs, Catalog& catalog, const fs::path& staging) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(staging, ec)) {
    const std::string name = entry.path().filename().string();
    const std::string id = name.substr(0, name.find('.'));
    std::string job_id = id;
    if (id.starts_with("backup-")) {
      auto backup = catalog.GetBackup(id);
      job_id = backup ? backup->job_id : "";
    }
    auto job = job_id.empty() ? Result<Job>(Fail(Error::NotFound(""))) : jobs.GetJob(job_id);
    if (job && !IsTerminal(job->state)) continue;
    if (!job && job.error().code() != Code::kNotFound) continue;
    spdlog::info("job={} removing staged leftover {}", job_id, entry.path().string());
    if (auto removed = RemoveAll(entry.path()); !removed) {
      spdlog::warn("sweep of {}: {}", entry.path().string(), removed.error().message());
    }
  }
}

// "127.0.0.1:9464", "[::1]:0", "localhost:9464": a loopback host and a port.
Result<std::pair<std::string, int>> ParseLoopbackAddress(const std::string& address) {
  const auto colon = address.rfind(':');
  const auto bad = [&](const std::string& why) {
    return Fail(Error::InvalidArgument("\"" + address.substr(0, 64) + "\": " + why));
  };
  if (colon == std::string::npos) return bad("want HOST:PORT");
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const std::string port_text = address.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port_text) > 65'535) {
    return bad("the port must be 0-65535");
  }
  if (host != "127.0.0.1" && host != "::1" && host != "localhost") {
    return bad(
        "the HTTP side serves loopback only (127.0.0.1, ::1, localhost) until it checks tokens; "
        "scrape it from this host or through a proxy that authenticates");
  }
  return std::make_pair(host, std::stoi(port_text));
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
  auto store = SqliteControlStore::Open({.path = layout.ControlDb().string()});
  if (!store) return Fail(store.error());
  host->store_ = std::move(*store);
  auto watcher = ChangeWatcher::Start(*host->store_, layout.ControlDb());
  if (watcher) {
    host->watcher_ = std::move(*watcher);
  } else {
    spdlog::warn("changes by other processes will be seen by polling only: {}",
                 watcher.error().message());
  }
  SweepStaging(host->jobs(), host->catalog(), layout.root() / "staging");
  if (auto swept = SweepRestoreLeftovers(host->jobs(), host->catalog(), layout); !swept) {
    spdlog::warn("sweep of restore leftovers: {}", swept.error().message());
  }
  host->MakePool();
  BACKUP_TRY(host->StartHttp(), "--http-listen");
  return host;
}

Status WorkerHost::StartHttp() {
  metrics_ = std::make_unique<ProcessMetrics>(jobs(), catalog(), policies());
  if (options_.http_listen.empty()) return {};
  auto address = ParseLoopbackAddress(options_.http_listen);
  if (!address) return Fail(address.error());
  auto http = HttpEndpoint::Start(address->first, address->second,
                                  [metrics = metrics_.get()] { return metrics->Render(); });
  if (!http) return Fail(http.error());
  http_ = std::move(*http);
  spdlog::info("serving /metrics on {}:{}", address->first, http_->port());
  return {};
}

void WorkerHost::MakePool() {
  pool_ = std::make_unique<WorkerPool>(jobs(), options_.pool);
  pool_->SetHandler(JobKind::kBackup,
                    std::make_unique<BackupJob>(catalog(), store_->clock(),
                                                BackupJobOptions{.data_root = layout_.root(),
                                                                 .backup_roots = backup_roots_,
                                                                 .stores = stores_.get()}));
  pool_->SetHandler(
      JobKind::kRestore,
      std::make_unique<RestoreJob>(catalog(), layout_,
                                   RestoreJobOptions{.lock_wait_ms = options_.restore_lock_wait_ms,
                                                     .stores = stores_.get()}));
  pool_->SetHandler(JobKind::kVerify,
                    std::make_unique<VerifyJob>(
                        catalog(), store_->clock(),
                        VerifyJobOptions{.data_root = layout_.root(), .stores = stores_.get()}));
}

void WorkerHost::StartPool() {
  pool_->SetMetrics(&metrics_->jobs());
  pool_->Start();
  if (options_.run_policies && !scheduler_) {
    scheduler_ = std::make_unique<PolicyScheduler>(policies(), catalog(), jobs(), *stores_,
                                                   backup_roots_, options_.policies);
    scheduler_->Start();
  }
}

void WorkerHost::Stop() {
  http_.reset();
  if (scheduler_) scheduler_->Stop();
  if (pool_) pool_->Stop();
}

}  // namespace backup
