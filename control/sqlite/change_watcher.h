// Wakes this process when another process writes the control database: an inotify watch
// on the database's folder reports every write to its -wal file (every commit in WAL
// mode appends there). A write is seen before its commit is visible (SQLite publishes it
// in the -shm index after the fsync), so on an event the watcher waits until the
// database's `PRAGMA data_version` moves, then bumps the queue's change version. Workers then claim
// new jobs, and WatchJob sees progress, within milliseconds instead of on a polling tick.
// Every kPollMs the watcher also compares `data_version` itself, which catches a commit
// whose fsync outlasted the wait after its event, and is all it does without inotify
// (its limits reached, a file system without it): one cheap PRAGMA per tick, however
// many jobs and watchers there are.
//
// Thread-safety: owns one thread; construct and destroy from one thread.
#pragma once

#include <filesystem>
#include <memory>
#include <thread>

#include "common/sqlite.h"
#include "control/job_queue.h"

namespace backup {

class ChangeWatcher {
 public:
  static constexpr int kPollMs = 200;

  // Starts watching the folder of `db_path` (polling only, with a warning, when inotify
  // is unavailable). Fails when the database cannot be opened.
  static Result<std::unique_ptr<ChangeWatcher>> Start(JobQueue& store,
                                                      const std::filesystem::path& db_path);
  ~ChangeWatcher();

 private:
  ChangeWatcher(JobQueue& store, sql::Database db, int inotify_fd, int stop_fd,
                std::string wal_name);
  void Loop();
  // Waits (briefly) for the commit behind a WAL write to become visible, then notifies.
  void NotifyWhenVisible();
  // Notifies when `data_version` moved since last seen; returns whether it did.
  bool NoticeCommit();

  JobQueue& store_;
  sql::Database db_;  // this thread's own connection, for data_version
  int64_t data_version_ = 0;
  int inotify_fd_;  // -1: polling only
  int stop_fd_;     // an eventfd; written once to stop the loop
  std::string wal_name_;
  std::thread thread_;
};

}  // namespace backup
