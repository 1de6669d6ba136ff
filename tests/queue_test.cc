// The queue's promises over a real server: idempotency keys, exclusivity of conflicting
// jobs, graceful hand-over at shutdown, and a full disk.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cstring>
#include <fstream>
#include <thread>

#include "control/sqlite/sqlite_control_store.h"
#include "tests/server_fixture.h"

namespace backup::testing {
namespace {
namespace fs = std::filesystem;

class QueueTest : public ServerTest {
 protected:
  collector::BackupCollectionRequest BackupRequest(const std::string& key,
                                                   const std::string& note) {
    collector::BackupCollectionRequest r;
    r.set_wait(false);
    r.mutable_collection()->set_namespace_("prod");
    r.mutable_collection()->set_name("users");
    r.set_idempotency_key(key);
    (*r.mutable_metadata())["note"] = note;
    return r;
  }
};

TEST_F(QueueTest, SameIdempotencyKeyAndRequestGivesTheOriginalJob) {
  CreateCollection("prod", "users", 100);
  collector::BackupCollectionResponse first, second;
  ASSERT_TRUE(repo_->BackupCollection(Ctx().get(), BackupRequest("nightly-1", "a"), &first).ok());
  auto repeat = BackupRequest("nightly-1", "a");
  repeat.set_wait(true);  // waiting does not change what is asked
  ASSERT_TRUE(repo_->BackupCollection(Ctx().get(), repeat, &second).ok());
  EXPECT_EQ(second.job().job_id(), first.job().job_id());
  EXPECT_EQ(second.backup().backup_id(), first.backup().backup_id());
  EXPECT_EQ(second.backup().state(), collector::BACKUP_COMPLETED);
  EXPECT_EQ(server_->store().ListJobs({})->jobs.size(), 1u);
  EXPECT_EQ(server_->store().ListBackups({})->total_count, 1);
}

TEST_F(QueueTest, SameIdempotencyKeyWithAnotherRequestIsRefused) {
  CreateCollection("prod", "users", 100);
  collector::BackupCollectionResponse first, second;
  ASSERT_TRUE(repo_->BackupCollection(Ctx().get(), BackupRequest("k", "a"), &first).ok());
  auto status = repo_->BackupCollection(Ctx().get(), BackupRequest("k", "b"), &second);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("already used for a different request"), std::string::npos);
  EXPECT_EQ(server_->store().ListJobs({})->jobs.size(), 1u);
}

TEST_F(QueueTest, RepeatedVerifyWithAKeyIsOneJob) {
  CreateCollection("prod", "users", 100);
  auto b = Watch(Backup("prod", "users").job().job_id()).back().backup_result().backup();
  collector::VerifyBackupRequest v;
  v.set_wait(false);
  v.set_backup_id(b.backup_id());
  v.set_idempotency_key("check-1");
  collector::VerifyBackupResponse r1, r2;
  ASSERT_TRUE(repo_->VerifyBackup(Ctx().get(), v, &r1).ok());
  ASSERT_TRUE(repo_->VerifyBackup(Ctx().get(), v, &r2).ok());
  EXPECT_EQ(r1.job().job_id(), r2.job().job_id());
}

// What a worker killed after its job's end was recorded leaves in staging (no attempt
// follows to remove it) goes while the server runs, not only at the next start.
TEST_F(QueueTest, WhatEndedJobsLeftInStagingIsSweptWhileTheServerRuns) {
  StopServer();
  options_.host.pool.sweep_interval_ms = 200;
  ASSERT_NO_FATAL_FAILURE(StartServer(2));
  CreateCollection("prod", "users", 100);
  auto done = Watch(Backup("prod", "users").job().job_id()).back();
  ASSERT_EQ(done.state(), collector::SUCCEEDED);
  const fs::path staging = layout().root() / "staging";
  const std::string backup_id = done.backup_result().backup().backup_id();
  for (const std::string& name :
       {backup_id + ".db", std::string("job-0123456789abcdef.verify.db")}) {
    std::ofstream(staging / name) << "left by a killed attempt";
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!fs::is_empty(staging) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(fs::is_empty(staging)) << fs::directory_iterator(staging)->path();
}

TEST_F(QueueTest, ARestoreIntoACollectionNeverOverlapsABackupOfIt) {
  CreateCollection("prod", "users");
  FillRecords(layout().CollectionDb({"prod", "users"}), 40'000, 1'000);
  auto earlier = Watch(Backup("prod", "users").job().job_id()).back().backup_result().backup();
  for (int round = 0; round < 2; ++round) {
    collector::RestoreBackupRequest restore;
    restore.set_wait(false);
    restore.set_backup_id(earlier.backup_id());
    restore.set_dest_namespace("prod");
    restore.set_dest_name("users");
    restore.set_overwrite(true);
    collector::RestoreBackupResponse restored;
    std::string backup_job;
    if (round == 0) backup_job = Backup("prod", "users").job().job_id();
    ASSERT_TRUE(repo_->RestoreBackup(Ctx().get(), restore, &restored).ok());
    if (round == 1) backup_job = Backup("prod", "users").job().job_id();
    auto b = Watch(backup_job).back();
    auto r = Watch(restored.job().job_id()).back();
    ASSERT_EQ(b.state(), collector::SUCCEEDED);
    ASSERT_EQ(r.state(), collector::SUCCEEDED);
    const bool apart =
        b.finished_at_ms() <= r.started_at_ms() || r.finished_at_ms() <= b.started_at_ms();
    EXPECT_TRUE(apart) << "backup [" << b.started_at_ms() << ", " << b.finished_at_ms()
                       << "] restore [" << r.started_at_ms() << ", " << r.finished_at_ms() << "]";
  }
}

TEST_F(QueueTest, ShutdownHandsRunningJobsOverWithoutSpendingAnAttempt) {
  CreateCollection("prod", "big");
  FillRecords(layout().CollectionDb({"prod", "big"}), 60'000, 4'000);
  StopServer();
  options_.host.pool.shutdown_grace_ms = 0;
  StartServer(1);
  auto r = Backup("prod", "big");
  for (int i = 0; i < 500 && GetJob(r.job().job_id()).state() != collector::RUNNING; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(GetJob(r.job().job_id()).state(), collector::RUNNING);
  StopServer();  // no grace: the running job is given back
  {
    // Between the two servers: released, not failed, and no attempt spent.
    auto store = SqliteControlStore::Open({.path = layout().ControlDb().string()});
    ASSERT_TRUE(store);
    auto released = (*store)->GetJob(r.job().job_id());
    ASSERT_TRUE(released);
    EXPECT_EQ(released->state, JobState::kQueued);
    EXPECT_EQ(released->attempt, 0);
  }
  options_.host.pool.shutdown_grace_ms = 10'000;
  StartServer(1);
  auto end = Watch(r.job().job_id()).back();
  EXPECT_EQ(end.state(), collector::SUCCEEDED) << end.error().message();
  EXPECT_EQ(end.attempt(), 1);
  EXPECT_TRUE(end.attempts().empty());
}

TEST_F(QueueTest, AFullDiskFailsTheBackupCleanlyAndTheServiceKeepsServing) {
  const fs::path full = dir_.path() / "full";
  fs::create_directories(full);
  if (::mount("tmpfs", full.c_str(), "tmpfs", 0, "size=2m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno) << "); needs root";
  }
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{full};
  StopServer();
  options_.host.extra_backup_roots = {full};
  StartServer(2);
  CreateCollection("prod", "users");
  FillRecords(layout().CollectionDb({"prod", "users"}), 5'000, 1'000);  // ~5 MB
  const std::string before = CanonicalDump(layout().CollectionDb({"prod", "users"}));
  auto r = Backup("prod", "users", false, (full / "users.db").string());
  auto end = Watch(r.job().job_id()).back();
  EXPECT_EQ(end.state(), collector::FAILED);
  EXPECT_EQ(end.error().code(), collector::Status::RESOURCE_EXHAUSTED) << end.error().message();
  EXPECT_NE(end.error().message().find("full"), std::string::npos) << end.error().message();
  EXPECT_EQ(end.attempt(), 1);  // not retried: a full disk is not transient
  for (auto& e : fs::directory_iterator(full)) ADD_FAILURE() << "left behind: " << e.path();
  EXPECT_EQ(CanonicalDump(layout().CollectionDb({"prod", "users"})), before);
  EXPECT_EQ(server_->store().GetBackup(r.backup().backup_id())->state, BackupState::kFailed);
  EXPECT_EQ(Watch(Backup("prod", "users").job().job_id()).back().state(), collector::SUCCEEDED);
}

}  // namespace
}  // namespace backup::testing
