// backup-worker: a worker process without a gRPC front-end, claiming jobs from the same
// control database as backupd (scale out by running several).
//   backup-worker --data-dir DIR --workers N [--backup-root DIR ...]
#include <thread>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "common/change_watcher.h"
#include "common/logging.h"
#include "common/signals.h"
#include "worker/restore_job.h"
#include "worker/worker_setup.h"

int main(int argc, char** argv) {
  backup::WorkerPoolOptions options;
  options.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string data_dir = "./data", log_format = "text", log_level = "info";
  std::vector<std::string> roots;
  double lease_s = 30;

  CLI::App app{"backup-worker: runs backup jobs from a shared control database"};
  app.add_option("--data-dir", data_dir, "data root shared with backupd")->capture_default_str();
  app.add_option("--workers", options.threads, "worker threads")->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--backup-root", roots, "further folder backups may be written to (repeatable)");
  app.add_option("--lease-seconds", lease_s, "job lease")->capture_default_str()
      ->check(CLI::Range(0.5, 3600.0));
  double grace_s = 10, retention_days = 7;
  app.add_option("--shutdown-grace-seconds", grace_s, "on SIGTERM, how long running jobs may finish")
      ->capture_default_str()->check(CLI::Range(0.0, 86400.0));
  app.add_option("--job-retention-days", retention_days, "finished jobs are pruned after this")
      ->capture_default_str()->check(CLI::Range(0.01, 3650.0));
  app.add_option("--worker-id", options.worker_id, "lease owner name (default host-pid-random)");
  app.add_option("--log-format", log_format, "text or json")->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (auto s = backup::InitLogging(log_format, log_level); !s) {
    std::fprintf(stderr, "backup-worker: %s\n", s.error().message().c_str());
    return 2;
  }
  backup::BlockTerminationSignals();
  options.lease_ms = static_cast<int64_t>(lease_s * 1000);
  options.shutdown_grace_ms = static_cast<int64_t>(grace_s * 1000);
  options.job_retention_ms = static_cast<int64_t>(retention_days * 86'400'000);
  backup::DataLayout layout(data_dir);
  std::vector<std::filesystem::path> extra(roots.begin(), roots.end());
  auto backup_roots = backup::BackupRoots(layout, extra);
  if (!backup_roots) {
    spdlog::critical("backup-worker: {}", backup_roots.error().message());
    return 1;
  }
  auto store = backup::ControlStore::Open({.path = layout.ControlDb().string()});
  if (!store) {
    spdlog::critical("backup-worker: {}", store.error().message());
    return 1;
  }
  if (auto swept = backup::SweepRestoreLeftovers(**store, layout); !swept) {
    spdlog::warn("sweep of restore leftovers: {}", swept.error().message());
  }
  auto watcher = backup::ChangeWatcher::Start(**store, layout.ControlDb());
  if (!watcher) spdlog::warn("new jobs will be seen by polling only: {}", watcher.error().message());
  auto pool = backup::MakeWorkerPool(**store, options, layout, *backup_roots);
  pool->Start();
  int sig = backup::WaitForTerminationSignal();
  spdlog::info("backup-worker received signal {}", sig);
  pool->Stop();
  return 0;
}
