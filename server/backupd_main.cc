// backupd: the gRPC front-end with an embedded worker pool.
//   backupd --data-dir DIR --listen HOST:PORT --workers N [--backup-root DIR ...]
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "common/signals.h"
#include "server/backup_server.h"
#include "worker/host_flags.h"

namespace {

// Writes the port through a temporary name, so a reader never sees a partial file.
void WritePortFile(const std::string& path, int port) {
  std::ofstream(path + ".tmp") << port << "\n";
  std::error_code ec;
  std::filesystem::rename(path + ".tmp", path, ec);
  if (ec) spdlog::error("port file {}: {}", path, ec.message());
}

void AddSecurityFlags(CLI::App& app, backup::BackupServerOptions& options) {
  app.add_option("--tls-cert", options.tls.cert_file, "PEM certificate chain: serve TLS")
      ->envname("BACKUPD_TLS_CERT");
  app.add_option("--tls-key", options.tls.key_file, "PEM private key of --tls-cert")
      ->envname("BACKUPD_TLS_KEY");
  app.add_option("--tls-client-ca", options.tls.client_ca_file,
                 "PEM CA: clients must present a certificate it signed (mutual TLS)")
      ->envname("BACKUPD_TLS_CLIENT_CA");
  app.add_option("--tls-refresh", options.tls.refresh_seconds,
                 "seconds between re-reads of the TLS files (rotation without restart)")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  app.add_option_function<std::string>(
         "--auth-file", [&options](const std::string& path) { options.auth_file = path; },
         "JSON token file: every call needs a bearer token listed there; re-read on SIGHUP")
      ->envname("BACKUPD_AUTH_FILE");
  app.add_flag("--insecure", options.insecure,
               "serve a non-loopback address without TLS or without an auth file");
}

int Run(int argc, char** argv) {
  backup::HostFlags flags;
  backup::BackupServerOptions options;
  std::string port_file;
  CLI::App app{"backupd: asynchronous backups of SQLite collections over gRPC"};
  backup::AddHostFlags(app, flags, 0);
  app.add_option("--listen", options.listen, "HOST:PORT to serve gRPC on (port 0: any free)")
      ->capture_default_str();
  app.add_option("--max-attempts", options.default_max_attempts, "default attempts per job")
      ->capture_default_str()
      ->check(CLI::Range(1, 10));
  app.add_option("--wait-by-default", options.wait_by_default,
                 "a backup, restore or verify request without `wait` (every client of the "
                 "Collector Backup API) is answered when its job ends; false: at once")
      ->capture_default_str();
  app.add_option("--max-watchers", options.watch.max_followers,
                 "open WatchJob streams and calls waiting for their job, together; more are "
                 "refused with RESOURCE_EXHAUSTED")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--port-file", port_file, "write the bound port here once serving");
  AddSecurityFlags(app, options);
  CLI11_PARSE(app, argc, argv);

  if (!backup::InitLoggingFromFlags(flags, "backupd")) return 2;
  backup::BlockTerminationSignals();
  options.host = flags.ToOptions();
  if (!port_file.empty() && !std::ofstream(port_file + ".tmp")) {
    spdlog::critical("backupd: cannot write the port file {}: {}", port_file, std::strerror(errno));
    return 2;
  }
  auto server = backup::BackupServer::Start(options);
  if (!server) {
    spdlog::critical("backupd: {}", server.error().message());
    return 1;
  }
  if (!port_file.empty()) WritePortFile(port_file, (*server)->port());
  int sig = backup::WaitForTerminationSignal([&] {
    spdlog::info("backupd received SIGHUP: re-reading the auth file");
    if (auto s = (*server)->ReloadAuth(); !s) {
      spdlog::error("auth file not reloaded, the previous tokens stay in force: {}",
                    s.error().message());
    }
  });
  spdlog::info("backupd received signal {}", sig);
  (*server)->Shutdown();
  return 0;
}

}  // namespace

// Errors are values inside; an exception reaching here (a library's) ends the process
// with a message instead of std::terminate.
int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "backupd: %s\n", e.what());
    return 1;
  }
}
