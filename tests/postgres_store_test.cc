// What only the PostgreSQL control store has to prove, beyond the typed contract suite
// (control_store_test.cc): migrations that processes starting at once apply once,
// wake-ups across processes by LISTEN/NOTIFY, leases on the database's clock, and a
// server restarted (or stopped and started) under it. Real PostgreSQL 15 clusters.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "control/postgres/postgres_control_store.h"
#include "tests/pg_cluster.h"
#include "tests/test_util.h"
#include "worker/worker_host.h"

namespace backup {
namespace {

using std::chrono::steady_clock;
using testing::PgCluster;

int64_t MsSince(steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - start).count();
}

// A fresh database on `cluster` for each test.
std::string FreshDatabase(PgCluster& cluster) {
  static int counter = 0;
  const std::string name = "p_" + std::to_string(getpid()) + "_" + std::to_string(++counter);
  auto made = cluster.EnsureDatabase(name);
  EXPECT_TRUE(made) << made.error().message();
  return cluster.ConnInfo(name);
}

Job BackupJob(const std::string& id, int64_t now_ms) {
  return {.id = "job-" + id,
          .kind = JobKind::kBackup,
          .collection = {"prod", "users"},
          .backup_id = "backup-" + id,
          .max_attempts = 3,
          .created_at_ms = now_ms};
}

BackupRecord PendingBackup(const std::string& id, int64_t now_ms) {
  return {.id = "backup-" + id,
          .collection = {"prod", "users"},
          .timestamp = now_ms / 1000,
          .created_at_ms = now_ms,
          .storage_path = "/b/" + id,
          .job_id = "job-" + id};
}

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = testing::SharedPgCluster();
    ASSERT_NE(cluster_, nullptr) << "no PostgreSQL for the tests";
    conninfo_ = FreshDatabase(*cluster_);
  }

  std::unique_ptr<PostgresControlStore> Open() {
    auto store = PostgresControlStore::Open({.conninfo = conninfo_});
    EXPECT_TRUE(store) << store.error().message();
    return store ? std::move(*store) : nullptr;
  }

  PgCluster* cluster_ = nullptr;
  std::string conninfo_;
};

TEST_F(PostgresStoreTest, ProcessesStartingAtOnceApplyEachMigrationOnce) {
  std::vector<std::thread> threads;
  threads.reserve(6);
  std::atomic<int> opened = 0;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      auto store = PostgresControlStore::Open({.conninfo = conninfo_});
      if (store) {
        ++opened;
      } else {
        ADD_FAILURE() << store.error().message();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(opened, 6);
  auto c = pg::Connection::Open(conninfo_);
  ASSERT_TRUE(c);
  auto rows = c->Query("SELECT version, count(*) FROM backup_schema_version GROUP BY version");
  ASSERT_TRUE(rows);
  ASSERT_GE(rows->Count(), 1);
  for (int i = 0; i < rows->Count(); ++i) {
    EXPECT_EQ(rows->Int(i, 1), 1) << "migration " << rows->Int(i, 0) << " applied twice";
  }
}

TEST_F(PostgresStoreTest, AnotherProcessIsWokenByNotifyNotByItsPollingTimeout) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a && b);
  for (int round = 0; round < 3; ++round) {
    const uint64_t seen = b->ChangeVersion();
    const auto start = steady_clock::now();
    std::thread writer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      const std::string id = "n" + std::to_string(round);
      EXPECT_TRUE(a->EnqueueBackup(BackupJob(id, a->clock().NowMs()),
                                   PendingBackup(id, a->clock().NowMs())));
    });
    b->WaitForChange(seen, 10'000);
    const int64_t waited = MsSince(start);
    writer.join();
    EXPECT_NE(b->ChangeVersion(), seen);
    EXPECT_LT(waited, 2'000) << "woken by the timeout, not by the notification";
  }
}

TEST_F(PostgresStoreTest, LeasesRunOnTheDatabasesClockInMilliseconds) {
  auto store = Open();
  ASSERT_TRUE(store);
  const int64_t now = store->clock().NowMs();
  EXPECT_LT(std::abs(now - SystemClock::Get().NowMs()), 2'000) << "same host, same clock";
  ASSERT_TRUE(store->EnqueueBackup(BackupJob("a", now), PendingBackup("a", now)));
  auto claimed = store->Claim("w1", 1, 30'000);
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_NEAR(static_cast<double>((*claimed)[0].lease_expires_at_ms),
              static_cast<double>(now + 30'000), 2'000.0);
  // Not expired yet by the database's clock: nothing to rescue.
  EXPECT_EQ(*store->RescueExpired(), 0);
}

TEST_F(PostgresStoreTest, AMalformedConnectionStringIsRefusedWithoutThePassword) {
  auto store = PostgresControlStore::Open({.conninfo = "postgresql://u:s3cret@[::1"});
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(RedactConnInfo("postgres://u:s3cret@h:5/db?password=x&sslmode=require"),
            "postgres://u:***@h:5/db?password=***&sslmode=require");
  EXPECT_EQ(RedactConnInfo("postgres://u@h/db"), "postgres://u@h/db");
}

// A server of its own: restarting the shared one would cut the other tests' connections.
class PostgresRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = PgCluster::Start(/*adopt=*/false);
    ASSERT_TRUE(cluster) << cluster.error().message();
    cluster_ = std::move(*cluster);
    conninfo_ = FreshDatabase(*cluster_);
  }
  std::unique_ptr<PgCluster> cluster_;
  std::string conninfo_;
};

TEST_F(PostgresRestartTest, ARestartedServerIsReconnectedAndNothingAcknowledgedIsLost) {
  auto a = PostgresControlStore::Open({.conninfo = conninfo_});
  auto b = PostgresControlStore::Open({.conninfo = conninfo_});
  ASSERT_TRUE(a && b);
  const int64_t now = (*a)->clock().NowMs();
  ASSERT_TRUE((*a)->EnqueueBackup(BackupJob("before", now), PendingBackup("before", now)));
  auto claimed = (*a)->Claim("w1", 1, 60'000);
  ASSERT_TRUE(claimed && claimed->size() == 1u);

  ASSERT_TRUE(cluster_->Restart());
  // Every pooled connection is dead now; the first calls reconnect.
  auto job = (*a)->GetJob("job-before");
  ASSERT_TRUE(job) << job.error().message();
  EXPECT_EQ(job->state, JobState::kRunning) << "an acknowledged claim survives the restart";
  ASSERT_TRUE((*a)->Heartbeat({"job-before", "w1", 1}, {.phase = "copying"}, 60'000));
  ASSERT_TRUE((*a)->EnqueueBackup(BackupJob("after", now), PendingBackup("after", now)));

  // b's listener reconnects with backoff and is woken by notifications again.
  const auto deadline = steady_clock::now() + std::chrono::seconds(15);
  bool woken = false;
  for (int round = 0; !woken && steady_clock::now() < deadline; ++round) {
    const uint64_t seen = b->get()->ChangeVersion();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (b->get()->ChangeVersion() != seen) continue;  // its reconnect bump; look again
    const std::string id = "wake" + std::to_string(round);
    const auto start = steady_clock::now();
    ASSERT_TRUE((*a)->EnqueueBackup(BackupJob(id, now), PendingBackup(id, now)));
    (*b)->WaitForChange(seen, 1'000);
    woken = (*b)->ChangeVersion() != seen && MsSince(start) < 1'000;
  }
  EXPECT_TRUE(woken) << "the listener did not come back within 15 s";
}

TEST_F(PostgresRestartTest, CallsFailUnavailableWhileTheServerIsDownAndWorkAfter) {
  auto store = PostgresControlStore::Open({.conninfo = conninfo_});
  ASSERT_TRUE(store);
  ASSERT_TRUE(cluster_->Stop());
  const auto start = steady_clock::now();
  auto down = (*store)->GetJob("job-x");
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code(), Code::kUnavailable) << down.error().message();
  auto claim = (*store)->Claim("w1", 1, 1'000);
  ASSERT_FALSE(claim);
  EXPECT_EQ(claim.error().code(), Code::kUnavailable);
  EXPECT_LT(MsSince(start), 5'000) << "a refused connection must not hang the caller";
  ASSERT_TRUE(cluster_->StartAgain());
  const int64_t now = (*store)->clock().NowMs();
  auto enqueued = (*store)->EnqueueBackup(BackupJob("a", now), PendingBackup("a", now));
  ASSERT_TRUE(enqueued) << enqueued.error().message();
  EXPECT_EQ((*store)->GetJob("job-a")->state, JobState::kQueued);
}

// A worker started while the server is down (or restarting) waits for it instead of
// exiting; a refused login fails at once.
TEST_F(PostgresRestartTest, AProcessStartedWhileTheServerIsDownWaitsForIt) {
  ASSERT_TRUE(cluster_->Stop());
  testing::TempDir dir;
  WorkerHostOptions options;
  options.data_dir = dir.path() / "data";
  options.control = conninfo_;
  options.node = "n1";
  options.pool.threads = 0;
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1'500));
    EXPECT_TRUE(cluster_->StartAgain());
  });
  const auto start = steady_clock::now();
  auto host = WorkerHost::Open(options);
  later.join();
  ASSERT_TRUE(host) << host.error().message();
  EXPECT_GE(MsSince(start), 1'000);
  EXPECT_TRUE((*host)->jobs().ListJobs({}));

  options.control = conninfo_ + "?user=nobody_here";
  const auto refused_at = steady_clock::now();
  auto refused = WorkerHost::Open(options);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().code(), Code::kUnavailable) << refused.error().message();
  EXPECT_LT(MsSince(refused_at), 5'000) << "a refused login is not waited for";
}

}  // namespace
}  // namespace backup
