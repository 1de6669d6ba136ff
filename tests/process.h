// Real child processes for the crash tests: spawn, signal, reap. And a backupd (or
// backup-worker) started as its own process on a data directory.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace backup::testing {

class Process {
 public:
  // Starts `argv[0]` with `argv`, its stdout and stderr appended to `log`.
  Process(const std::vector<std::string>& argv, const std::filesystem::path& log);
  Process(const Process&) = delete;
  ~Process();  // SIGKILLs a process still running
  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits for the exit; returns the exit code, or 128+signal.
  int Wait();
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

// backupd on 127.0.0.1 with a free port, as a separate process.
class BackupdProcess {
 public:
  // `extra`: further flags (say --control postgres://...).
  BackupdProcess(const std::filesystem::path& data_dir, int workers, double lease_seconds = 1,
                 const std::vector<std::string>& extra = {});
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  Process& process() { return process_; }

 private:
  std::filesystem::path port_file_;
  Process process_;
  int port_ = 0;
};

// backup-worker as its own process on `data_dir`: `threads` workers, leases of
// `lease_seconds`, lease owner `id`, and `extra` flags; its log is <data_dir>.<id>.log.
std::unique_ptr<Process> StartBackupWorker(const std::filesystem::path& data_dir,
                                           const std::string& id,
                                           const std::vector<std::string>& extra, int threads = 2,
                                           double lease_seconds = 1);

}  // namespace backup::testing
