// The SQLite store's wake-up across processes: the change watcher reports another
// connection's commit within milliseconds instead of on a polling tick.
#include <gtest/gtest.h>

#include <thread>

#include "control/sqlite/change_watcher.h"
#include "control/sqlite/sqlite_control_store.h"
#include "tests/test_util.h"

namespace backup {
namespace {

using testing::TempDir;

TEST(ChangeWatcher, AnotherConnectionsCommitWakesWaitersWithinMilliseconds) {
  TempDir dir;
  const auto path = (dir.path() / "control.db").string();
  auto store = SqliteControlStore::Open({.path = path});
  ASSERT_TRUE(store) << store.error().message();
  auto watcher = ChangeWatcher::Start(**store, path);
  ASSERT_TRUE(watcher) << watcher.error().message();
  // A second store on the same file stands for another process: its writes do not reach
  // this store's in-process notifications, only the watcher can report them.
  auto other = SqliteControlStore::Open({.path = path});
  ASSERT_TRUE(other);
  ASSERT_TRUE(
      (*other)->CreateCollection({.name = {"prod", "users"}, .db_path = "x", .files_path = "y"}));
  for (int i = 0; i < 5; ++i) {
    const uint64_t seen = (*store)->ChangeVersion();
    std::thread writer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      Job job{.id = "job-w" + std::to_string(i),
              .collection = {"prod", "users"},
              .backup_id = "backup-w" + std::to_string(i),
              .created_at_ms = 1};
      BackupRecord b{.id = job.backup_id,
                     .collection = {"prod", "users"},
                     .storage_path = "/w/" + std::to_string(i),
                     .job_id = job.id};
      ASSERT_TRUE((*other)->EnqueueBackup(job, b));
    });
    auto t = std::chrono::steady_clock::now();
    (*store)->WaitForChange(seen, 2'000);
    auto waited = std::chrono::steady_clock::now() - t;
    writer.join();
    EXPECT_NE((*store)->ChangeVersion(), seen);
    EXPECT_LT(waited, std::chrono::milliseconds(500));  // polling alone would take 2,000
    EXPECT_EQ((*store)->GetJob("job-w" + std::to_string(i))->state, JobState::kQueued);
  }
}

}  // namespace
}  // namespace backup
