#include "control/sqlite/change_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <spdlog/spdlog.h>

namespace backup {

Result<std::unique_ptr<ChangeWatcher>> ChangeWatcher::Start(JobQueue& store,
                                                            const std::filesystem::path& db_path) {
  auto db = sql::Database::Open(db_path.string(), {.read_only = true});
  if (!db) return Fail(db.error().Context("change watcher"));
  int stop = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop < 0) return Fail(Error::FromErrno(errno, "eventfd"));
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  std::string dir = db_path.parent_path().string();
  if (fd < 0 || ::inotify_add_watch(fd, dir.c_str(), IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
    spdlog::warn(
        "changes by other processes will be seen by polling only ({} ms): inotify on {}: {}",
        kPollMs, dir, std::strerror(errno));
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  std::unique_ptr<ChangeWatcher> w(
      new ChangeWatcher(store, std::move(*db), fd, stop, db_path.filename().string() + "-wal"));
  w->thread_ = std::thread([p = w.get()] { p->Loop(); });
  return w;
}

ChangeWatcher::ChangeWatcher(JobQueue& store, sql::Database db, int inotify_fd, int stop_fd,
                             std::string wal_name)
    : store_(store),
      db_(std::move(db)),
      inotify_fd_(inotify_fd),
      stop_fd_(stop_fd),
      wal_name_(std::move(wal_name)) {
  data_version_ = db_.QueryInt("PRAGMA data_version").value_or(0);
}

bool ChangeWatcher::NoticeCommit() {
  auto v = db_.QueryInt("PRAGMA data_version");
  if (!v || *v == data_version_) return false;
  data_version_ = *v;
  store_.NotifyChange();
  return true;
}

void ChangeWatcher::NotifyWhenVisible() {
  constexpr int kTries = 50;  // 1 ms apart: an fsync rarely takes longer, and the
                              // periodic check catches a commit that does
  for (int i = 0; i < kTries; ++i) {
    if (NoticeCommit()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

ChangeWatcher::~ChangeWatcher() {
  uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  ::close(stop_fd_);
}

void ChangeWatcher::Loop() {
  alignas(inotify_event) char buf[4096];
  for (;;) {
    // A negative fd is ignored by poll(2): without inotify this only ticks.
    pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
    const int ready = ::poll(fds, 2, kPollMs);
    if (ready < 0) {
      if (errno == EINTR) continue;
      spdlog::warn("change watcher stopped: {}", std::strerror(errno));
      return;
    }
    if (fds[0].revents != 0) return;
    if (ready == 0) {  // the periodic check: commits inotify did not report in time
      NoticeCommit();
      continue;
    }
    bool changed = false;
    for (;;) {  // drain every pending event, then wake waiters once
      ssize_t n = ::read(inotify_fd_, buf, sizeof buf);
      if (n <= 0) break;
      for (char* p = buf; p < buf + n;) {
        auto* event = reinterpret_cast<inotify_event*>(p);
        if (event->len > 0 && wal_name_ == event->name) changed = true;
        p += sizeof(inotify_event) + event->len;
      }
    }
    if (changed) NotifyWhenVisible();
  }
}

}  // namespace backup
