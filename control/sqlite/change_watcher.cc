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
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return Fail(Error::FromErrno(errno, "inotify_init1"));
  std::string dir = db_path.parent_path().string();
  if (::inotify_add_watch(fd, dir.c_str(), IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
    int err = errno;
    ::close(fd);
    return Fail(Error::FromErrno(err, "inotify_add_watch " + dir));
  }
  int stop = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop < 0) {
    int err = errno;
    ::close(fd);
    return Fail(Error::FromErrno(err, "eventfd"));
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

void ChangeWatcher::NotifyWhenVisible() {
  constexpr int kTries = 50;  // 1 ms apart: an fsync rarely takes longer
  for (int i = 0; i < kTries; ++i) {
    auto v = db_.QueryInt("PRAGMA data_version");
    if (v && *v != data_version_) {
      data_version_ = *v;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  store_.NotifyChange();
}

ChangeWatcher::~ChangeWatcher() {
  uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(inotify_fd_);
  ::close(stop_fd_);
}

void ChangeWatcher::Loop() {
  alignas(inotify_event) char buf[4096];
  for (;;) {
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::warn("change watcher stopped: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
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
