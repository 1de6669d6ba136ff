// backup-worker: a worker process without a gRPC front-end, claiming jobs from the same
// control database as backupd (scale out by running several).
//   backup-worker --data-dir DIR --workers N [--backup-root DIR ...]
#include <cstdio>
#include <exception>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "common/signals.h"
#include "worker/host_flags.h"

namespace {

int Run(int argc, char** argv) {
  backup::HostFlags flags;
  std::string worker_id;
  CLI::App app{"backup-worker: runs backup jobs from a shared control database"};
  backup::AddHostFlags(app, flags, 1);
  app.add_option("--worker-id", worker_id, "lease owner name (default host-pid-random)");
  CLI11_PARSE(app, argc, argv);

  if (!backup::InitLoggingFromFlags(flags, "backup-worker")) return 2;
  backup::BlockTerminationSignals();
  backup::WorkerHostOptions options = flags.ToOptions();
  options.pool.worker_id = worker_id;
  auto host = backup::WorkerHost::Open(std::move(options));
  if (!host) {
    spdlog::critical("backup-worker: {}", host.error().message());
    return 1;
  }
  if (auto served = (*host)->ServeHttp({}, {}, {}, /*loopback_only=*/true); !served) {
    spdlog::critical("backup-worker: {}", served.error().message());
    return 1;
  }
  (*host)->StartPool();
  int sig = backup::WaitForTerminationSignal();
  spdlog::info("backup-worker received signal {}", sig);
  (*host)->Stop();
  return 0;
}

}  // namespace

// Errors are values inside; an exception reaching here (a library's) ends the process
// with a message instead of std::terminate.
int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "backup-worker: %s\n", e.what());
    return 1;
  }
}
