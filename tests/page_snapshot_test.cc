// Page snapshots (worker/page_snapshot.h) of a database a writer commits to all along:
// every snapshot, written out page for page, is a whole database holding exactly the rows
// its read transaction counted.
#include <atomic>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "common/sqlite.h"
#include "tests/test_util.h"
#include "worker/page_snapshot.h"

namespace backup::testing {
namespace {
namespace fs = std::filesystem;

// Writes the snapshot's pages into a new file.
void WriteOut(PageSnapshot& snap, const fs::path& path) {
  std::string pages(static_cast<size_t>(snap.size()), '\0');
  ASSERT_TRUE(snap.ReadAt(0, pages.data(), snap.size()));
  std::ofstream(path, std::ios::binary) << pages;
}

TEST(PageSnapshotTest, EverySnapshotUnderAWriterIsOneConsistentMoment) {
  TempDir dir;
  const fs::path db = dir.path() / "live.db";
  {
    auto conn = sql::Database::Open(db.string(), {});
    ASSERT_TRUE(conn);
    ASSERT_TRUE(
        conn->Exec("PRAGMA journal_mode=WAL; CREATE TABLE records (id TEXT PRIMARY KEY, "
                   "v BLOB); CREATE INDEX by_v ON records(v)"));
  }
  std::atomic<bool> stop{false};
  std::atomic<int> commits{0};
  std::thread writer([&] {
    auto conn = sql::Database::Open(db.string(), {});
    for (int i = 0; !stop.load(); ++i) {
      if (conn->Exec("BEGIN; INSERT INTO records VALUES ('k" + std::to_string(i) +
                     "', randomblob(500)); UPDATE records SET v = randomblob(100) WHERE id = 'k" +
                     std::to_string(i / 2) + "'; COMMIT")) {
        ++commits;
      }
    }
  });
  int taken = 0;
  std::vector<int> tries;
  for (int round = 0; round < 40; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    Job job;
    JobContext ctx(job, Lease{});
    auto snap = PageSnapshot::Take(db, {}, ctx);
    if (!snap && snap.error().code() == Code::kUnavailable) continue;
    ASSERT_TRUE(snap) << snap.error().message();
    tries.push_back((*snap)->tries());
    auto counted = (*snap)->CountRecords();
    ASSERT_TRUE(counted);
    const fs::path copy = dir.path() / ("copy" + std::to_string(round) + ".db");
    WriteOut(**snap, copy);
    snap->reset();
    ++taken;
    SCOPED_TRACE("round " + std::to_string(round) + ", " + std::to_string(*counted) + " rows");
    EXPECT_EQ(IntegrityCheck(copy), "ok");
    auto conn = sql::Database::Open(copy.string(), {.read_only = true});
    ASSERT_TRUE(conn);
    EXPECT_EQ(conn->QueryInt("SELECT count(*) FROM records").value_or(-1), *counted);
  }
  stop = true;
  writer.join();
  std::string all;
  for (int t : tries) all += std::to_string(t) + " ";
  std::printf("%d snapshots of %d rounds, %d commits; checkpoint tries: %s\n", taken, 40,
              commits.load(), all.c_str());
  EXPECT_GT(taken, 20);
  EXPECT_GT(commits.load(), 100);
}

}  // namespace
}  // namespace backup::testing
