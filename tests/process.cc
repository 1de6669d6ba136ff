#include "tests/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

extern char** environ;

namespace backup::testing {
namespace fs = std::filesystem;

Process::Process(const std::vector<std::string>& argv, const fs::path& log) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  // The child must not inherit the test's blocked signal mask or it could not be stopped.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  int rc = posix_spawn(&pid_, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    ADD_FAILURE() << "spawn " << argv[0] << ": " << strerror(rc);
    pid_ = -1;
  }
}

Process::~Process() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    Wait();
  }
}

void Process::Signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

int Process::Wait() {
  if (pid_ <= 0) return -1;
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

BackupdProcess::BackupdProcess(const fs::path& data_dir, int workers, double lease_seconds,
                               const std::vector<std::string>& extra)
    : port_file_(data_dir.string() + ".port"),
      process_(
          [&] {
            fs::remove(data_dir.string() + ".port");
            std::vector<std::string> args{BACKUPD_PATH,
                                          "--data-dir",
                                          data_dir.string(),
                                          "--listen",
                                          "127.0.0.1:0",
                                          "--port-file",
                                          data_dir.string() + ".port",
                                          "--workers",
                                          std::to_string(workers),
                                          "--lease-seconds",
                                          std::to_string(lease_seconds)};
            args.insert(args.end(), extra.begin(), extra.end());
            return args;
          }(),
          data_dir.string() + ".log") {
  for (int i = 0; i < 200 && port_ == 0; ++i) {
    std::ifstream in(port_file_);
    if (!(in >> port_)) {
      port_ = 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }
  EXPECT_NE(port_, 0) << "backupd did not start; see " << data_dir.string() << ".log";
}

std::unique_ptr<Process> StartBackupWorker(const fs::path& data_dir, const std::string& id,
                                           const std::vector<std::string>& extra, int threads,
                                           double lease_seconds) {
  std::vector<std::string> args{BACKUP_WORKER_PATH,
                                "--data-dir",
                                data_dir.string(),
                                "--workers",
                                std::to_string(threads),
                                "--lease-seconds",
                                std::to_string(lease_seconds),
                                "--worker-id",
                                id};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<Process>(args, data_dir.string() + "." + id + ".log");
}

}  // namespace backup::testing
