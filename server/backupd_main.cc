// backupd: the gRPC front-end with an embedded worker pool.
//   backupd --data-dir DIR --listen HOST:PORT --workers N [--backup-root DIR ...]
#include <fstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "common/logging.h"
#include "common/signals.h"
#include "server/backup_server.h"

int main(int argc, char** argv) {
  backup::BackupServerOptions options;
  options.worker.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string data_dir = "./data", log_format = "text", log_level = "info", port_file;
  std::vector<std::string> roots;
  double lease_s = 30;

  CLI::App app{"backupd: asynchronous backups of SQLite collections over gRPC"};
  app.add_option("--data-dir", data_dir, "data root (control.db, collections, backups)")
      ->capture_default_str();
  app.add_option("--listen", options.listen, "HOST:PORT to serve gRPC on (port 0: any free)")
      ->capture_default_str();
  app.add_option("--workers", options.worker.threads,
                 "embedded worker threads (0: front-end only)")
      ->capture_default_str()->check(CLI::Range(0, 256));
  app.add_option("--backup-root", roots, "further folder backups may be written to (repeatable)");
  app.add_option("--lease-seconds", lease_s, "job lease; a dead worker's job is rescued after it")
      ->capture_default_str()->check(CLI::Range(0.5, 3600.0));
  double grace_s = 10, retention_days = 7;
  app.add_option("--shutdown-grace-seconds", grace_s, "on SIGTERM, how long running jobs may finish")
      ->capture_default_str()->check(CLI::Range(0.0, 86400.0));
  app.add_option("--job-retention-days", retention_days, "finished jobs are pruned after this")
      ->capture_default_str()->check(CLI::Range(0.01, 3650.0));
  app.add_option("--max-attempts", options.default_max_attempts, "default attempts per job")
      ->capture_default_str()->check(CLI::Range(1, 10));
  app.add_option("--log-format", log_format, "text or json")->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();
  app.add_option("--port-file", port_file, "write the bound port here once serving");
  CLI11_PARSE(app, argc, argv);

  if (auto s = backup::InitLogging(log_format, log_level); !s) {
    std::fprintf(stderr, "backupd: %s\n", s.error().message().c_str());
    return 2;
  }
  backup::BlockTerminationSignals();
  options.data_dir = data_dir;
  options.extra_backup_roots.assign(roots.begin(), roots.end());
  options.worker.lease_ms = static_cast<int64_t>(lease_s * 1000);
  options.worker.shutdown_grace_ms = static_cast<int64_t>(grace_s * 1000);
  options.worker.job_retention_ms = static_cast<int64_t>(retention_days * 86'400'000);

  auto server = backup::BackupServer::Start(options);
  if (!server) {
    spdlog::critical("backupd: {}", server.error().message());
    return 1;
  }
  if (!port_file.empty()) {
    std::ofstream(port_file + ".tmp") << (*server)->port() << "\n";
    std::filesystem::rename(port_file + ".tmp", port_file);
  }
  int sig = backup::WaitForTerminationSignal();
  spdlog::info("backupd received signal {}", sig);
  (*server)->Shutdown();
  return 0;
}
