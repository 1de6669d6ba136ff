// Chaos with real processes: a front-end-only backupd, three backup-worker processes on
// the same control database, 200 backups over 50 collections, and workers killed with
// SIGKILL in the middle of jobs. Every acknowledged job must end SUCCEEDED, each backup
// must exist once and verify, and no temporary file may remain (invariant 1).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <set>
#include <thread>

#include "backup_jobs.grpc.pb.h"
#include "collection_repo.grpc.pb.h"
#include "common/data_layout.h"
#include "tests/process.h"
#include "tests/test_util.h"

namespace backup::testing {
namespace {
namespace fs = std::filesystem;

std::unique_ptr<grpc::ClientContext> Ctx(int seconds = 60) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return c;
}

std::unique_ptr<Process> StartWorker(const fs::path& data, const std::string& id) {
  return std::make_unique<Process>(
      std::vector<std::string>{BACKUP_WORKER_PATH, "--data-dir", data.string(), "--workers", "2",
                               "--lease-seconds", "1", "--worker-id", id},
      data.string() + "." + id + ".log");
}

TEST(Chaos, KilledWorkersLoseNoJobAndLeaveNoTrace) {
  constexpr int kCollections = 50;
  constexpr int kJobs = 200;
  TempDir dir;
  const fs::path data = dir.path() / "data";
  DataLayout layout(data);
  BackupdProcess front(data, /*workers=*/0);
  auto channel = grpc::CreateChannel(front.address(), grpc::InsecureChannelCredentials());
  auto repo = collector::CollectionRepo::NewStub(channel);
  auto jobs = collector::BackupJobs::NewStub(channel);

  for (int c = 0; c < kCollections; ++c) {
    collector::CreateCollectionRequest create;
    create.mutable_collection()->set_namespace_("chaos");
    create.mutable_collection()->set_name("c" + std::to_string(c));
    collector::CreateCollectionResponse created;
    ASSERT_TRUE(repo->CreateCollection(Ctx().get(), create, &created).ok());
    FillRecords(layout.CollectionDb({"chaos", "c" + std::to_string(c)}), 1'500, 2'000);
    WriteFiles(layout.CollectionFilesDir({"chaos", "c" + std::to_string(c)}), 3, 8'192);
  }
  std::vector<std::string> job_ids;
  for (int j = 0; j < kJobs; ++j) {
    collector::BackupCollectionRequest r;
    r.mutable_collection()->set_namespace_("chaos");
    r.mutable_collection()->set_name("c" + std::to_string(j % kCollections));
    r.set_include_files(true);
    collector::BackupCollectionResponse queued;
    auto s = repo->BackupCollection(Ctx().get(), r, &queued);
    ASSERT_TRUE(s.ok()) << s.error_message();
    job_ids.push_back(queued.job().job_id());
  }

  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  std::map<std::string, std::unique_ptr<Process>> workers;
  for (const char* id : {"w1", "w2", "w3"}) workers[id] = StartWorker(data, id);

  // Twice: find a job running on a live worker and SIGKILL that worker mid-job.
  int kills = 0;
  std::set<std::string> killed_jobs;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (kills < 2 && std::chrono::steady_clock::now() < deadline) {
    collector::ListJobsRequest list;
    list.set_state(collector::RUNNING);
    collector::ListJobsResponse running;
    ASSERT_TRUE(jobs->ListJobs(Ctx().get(), list, &running).ok());
    for (const auto& job : running.jobs()) {
      auto it = workers.find(job.worker_id());
      if (it == workers.end() || job.progress().phase() == "starting") continue;
      it->second->Signal(SIGKILL);
      it->second->Wait();
      const std::string id = job.worker_id();
      workers.erase(it);
      workers[id + "-again"] = StartWorker(data, id + "-again");
      // The jobs still RUNNING under the dead worker are the ones it was killed in the
      // middle of (the one seen above may have finished just before the signal). Nothing
      // can change them until their lease expires, a second from now.
      collector::ListJobsResponse after;
      grpc::ClientContext ctx;
      ASSERT_TRUE(jobs->ListJobs(&ctx, list, &after).ok());
      bool interrupted = false;
      for (const auto& j : after.jobs()) {
        if (j.worker_id() == id) {
          killed_jobs.insert(j.job_id());
          interrupted = true;
        }
      }
      if (interrupted) ++kills;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(kills, 2) << "no job was caught running";

  // Every job ends, and ends SUCCEEDED.
  std::map<std::string, collector::Job> ended;
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  while (static_cast<int>(ended.size()) < kJobs && std::chrono::steady_clock::now() < deadline) {
    for (const auto& id : job_ids) {
      if (ended.count(id)) continue;
      collector::GetJobRequest get;
      get.set_job_id(id);
      collector::GetJobResponse got;
      ASSERT_TRUE(jobs->GetJob(Ctx().get(), get, &got).ok());
      const auto state = got.job().state();
      if (state == collector::SUCCEEDED || state == collector::FAILED ||
          state == collector::CANCELLED) {
        ended[id] = got.job();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(static_cast<int>(ended.size()), kJobs);
  std::printf("%d jobs ended %.1f s after the workers started\n", kJobs, elapsed());
  int retried = 0;
  for (const auto& [id, job] : ended) {
    EXPECT_EQ(job.state(), collector::SUCCEEDED) << id << ": " << job.error().message();
    if (job.attempt() > 1) ++retried;
  }
  for (const auto& id : killed_jobs) {
    EXPECT_GE(ended[id].attempt(), 2) << id << " was running on a killed worker";
    EXPECT_FALSE(ended[id].attempts().empty());
  }
  EXPECT_GE(retried, 2);

  // Each backup exists once, on disk under its own name, and verifies.
  collector::ListBackupsRequest list;
  collector::ListBackupsResponse backups;
  ASSERT_TRUE(repo->ListBackups(Ctx().get(), list, &backups).ok());
  EXPECT_EQ(backups.total_count(), kJobs);
  std::set<std::string> paths;
  for (const auto& b : backups.backups()) {
    EXPECT_EQ(b.state(), collector::BACKUP_COMPLETED) << b.backup_id();
    paths.insert(b.storage_path());
    collector::VerifyBackupRequest verify;
    verify.set_backup_id(b.backup_id());
    verify.set_wait(true);
    collector::VerifyBackupResponse verdict;
    auto s = repo->VerifyBackup(Ctx().get(), verify, &verdict);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_TRUE(verdict.is_valid()) << b.backup_id() << ": " << verdict.error_message();
  }
  EXPECT_EQ(static_cast<int>(paths.size()), kJobs);
  std::printf("%d backups verified %.1f s after the workers started\n", kJobs, elapsed());
  int db_files = 0;
  for (auto& e : fs::recursive_directory_iterator(layout.BackupsRoot())) {
    const std::string name = e.path().filename().string();
    EXPECT_EQ(name.find(".partial"), std::string::npos) << e.path();
    if (e.is_regular_file() && e.path().extension() == ".db") ++db_files;
  }
  EXPECT_EQ(db_files, kJobs);
}

}  // namespace
}  // namespace backup::testing
