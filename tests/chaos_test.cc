// Chaos with real processes: a front-end-only backupd, three backup-worker processes on
// the same control database, 200 backups over 50 collections, and workers killed with
// SIGKILL in the middle of jobs. Every acknowledged job must end SUCCEEDED, each backup
// must exist once and verify, and no temporary file may remain (invariant 1). Once on
// the SQLite control database, once on PostgreSQL restarted during the run.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "backup_jobs.grpc.pb.h"
#include "collection_repo.grpc.pb.h"
#include "common/data_layout.h"
#include "tests/job_wait.h"
#include "tests/pg_cluster.h"
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

std::unique_ptr<Process> StartWorker(const fs::path& data, const std::string& id,
                                     const std::vector<std::string>& control) {
  return StartBackupWorker(data, id, control);
}

constexpr int kCollections = 50;
constexpr int kJobs = 200;

class Chaos : public ::testing::Test {
 protected:
  // `control`: the flags naming the control database (none: SQLite under the data root).
  explicit Chaos(std::vector<std::string> control = {})
      : control_(std::move(control)),
        data_(dir_.path() / "data"),
        layout_(data_),
        front_(data_, /*workers=*/0, /*lease_seconds=*/1, control_),
        channel_(grpc::CreateChannel(front_.address(), grpc::InsecureChannelCredentials())),
        repo_(collector::CollectionRepo::NewStub(channel_)),
        jobs_(collector::BackupJobs::NewStub(channel_)) {}

  // kCollections collections with records and files; kJobs backups queued over them.
  void QueueBackups() {
    for (int c = 0; c < kCollections; ++c) {
      const CollectionName name{"chaos", "c" + std::to_string(c)};
      collector::CreateCollectionRequest create;
      create.mutable_collection()->set_namespace_(name.ns);
      create.mutable_collection()->set_name(name.name);
      collector::CreateCollectionResponse created;
      ASSERT_TRUE(repo_->CreateCollection(Ctx().get(), create, &created).ok());
      FillRecords(layout_.CollectionDb(name), 1'500, 2'000);
      WriteFiles(layout_.CollectionFilesDir(name), 3, 8'192);
    }
    for (int j = 0; j < kJobs; ++j) {
      collector::BackupCollectionRequest r;
      r.set_wait(false);
      r.mutable_collection()->set_namespace_("chaos");
      r.mutable_collection()->set_name("c" + std::to_string(j % kCollections));
      r.set_include_files(true);
      collector::BackupCollectionResponse queued;
      auto s = repo_->BackupCollection(Ctx().get(), r, &queued);
      ASSERT_TRUE(s.ok()) << s.error_message();
      job_ids_.push_back(queued.job().job_id());
    }
  }

  std::vector<collector::Job> RunningJobs() {
    collector::ListJobsRequest list;
    list.set_state(collector::RUNNING);
    collector::ListJobsResponse running;
    // May fail while PostgreSQL restarts: then nothing is seen running this time.
    if (!jobs_->ListJobs(Ctx().get(), list, &running).ok()) return {};
    return {running.jobs().begin(), running.jobs().end()};
  }

  // SIGKILLs the worker running `job` and starts a replacement. Returns whether the kill
  // interrupted a job: the jobs still RUNNING under the dead worker are the ones it was
  // killed in the middle of (the one seen may have finished just before the signal), and
  // nothing can change them until their lease expires, a second from now.
  bool KillWorkerOf(const collector::Job& job) {
    auto it = workers_.find(job.worker_id());
    it->second->Signal(SIGKILL);
    it->second->Wait();
    const std::string& id = job.worker_id();
    workers_.erase(it);
    workers_[id + "-again"] = StartWorker(data_, id + "-again", control_);
    bool interrupted = false;
    for (const auto& j : RunningJobs()) {
      if (j.worker_id() != id) continue;
      killed_jobs_.insert(j.job_id());
      interrupted = true;
    }
    return interrupted;
  }

  // Twice: finds a job running on a live worker and SIGKILLs that worker mid-job.
  void KillTwoWorkersMidJob() {
    for (const char* id : {"w1", "w2", "w3"}) workers_[id] = StartWorker(data_, id, control_);
    int kills = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (kills < 2 && std::chrono::steady_clock::now() < deadline) {
      for (const auto& job : RunningJobs()) {
        if (!workers_.count(job.worker_id()) || job.progress().phase() == "starting") continue;
        if (KillWorkerOf(job)) ++kills;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(kills, 2) << "no job was caught running";
  }

  // Polls every job until all ended (or three minutes passed); returns them by id.
  std::map<std::string, collector::Job> WaitForAllToEnd() {
    return WaitForJobsToEnd(*jobs_, job_ids_, std::chrono::seconds(180));
  }

  // Each backup exists once, under its own name, and verifies; no temporary name is left.
  void ExpectEveryBackupOnceAndValid() {
    collector::ListBackupsRequest list;
    collector::ListBackupsResponse backups;
    ASSERT_TRUE(repo_->ListBackups(Ctx().get(), list, &backups).ok());
    EXPECT_EQ(backups.total_count(), kJobs);
    std::set<std::string> paths;
    for (const auto& b : backups.backups()) {
      EXPECT_EQ(b.state(), collector::BACKUP_COMPLETED) << b.backup_id();
      paths.insert(b.storage_path());
      collector::VerifyBackupRequest verify;
      verify.set_backup_id(b.backup_id());
      verify.set_wait(true);
      collector::VerifyBackupResponse verdict;
      auto s = repo_->VerifyBackup(Ctx().get(), verify, &verdict);
      ASSERT_TRUE(s.ok()) << s.error_message();
      EXPECT_TRUE(verdict.is_valid()) << b.backup_id() << ": " << verdict.error_message()
                                      << "; job " << verdict.job().ShortDebugString();
    }
    EXPECT_EQ(static_cast<int>(paths.size()), kJobs);
    // One archive per backup in the store (a killed attempt's is removed by the one that
    // completes), and nothing staged is left.
    int archives = 0;
    for (auto& e : fs::recursive_directory_iterator(layout_.root() / "store")) {
      const std::string name = e.path().filename().string();
      EXPECT_EQ(name.find(".partial"), std::string::npos) << e.path();
      if (e.is_regular_file()) ++archives;
    }
    EXPECT_EQ(archives, kJobs);
    for (auto& e : fs::recursive_directory_iterator(layout_.root() / "staging")) {
      const std::string id = e.path().stem().string();
      auto backup = std::find_if(backups.backups().begin(), backups.backups().end(),
                                 [&](const auto& b) { return b.backup_id() == id; });
      const std::string job_id = backup == backups.backups().end() ? id : backup->job_id();
      ADD_FAILURE() << "left in staging: " << e.path() << "\n"
                    << LogLinesAbout(id) << "\n"
                    << LogLinesAbout(job_id);
    }
  }

  // Every process's log lines that mention `id`, to explain a failure.
  std::string LogLinesAbout(const std::string& id) const {
    std::string out;
    for (const auto& e : fs::directory_iterator(dir_.path())) {
      if (e.path().extension() != ".log") continue;
      std::istringstream lines(ReadFile(e.path()));
      for (std::string line; std::getline(lines, line);) {
        if (line.find(id) != std::string::npos) {
          out += e.path().filename().string() + ": " + line + "\n";
        }
      }
    }
    return out;
  }

  std::vector<std::string> control_;
  TempDir dir_;
  const fs::path data_;
  DataLayout layout_;
  BackupdProcess front_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<collector::CollectionRepo::Stub> repo_;
  std::unique_ptr<collector::BackupJobs::Stub> jobs_;
  std::vector<std::string> job_ids_;
  std::map<std::string, std::unique_ptr<Process>> workers_;
  std::set<std::string> killed_jobs_;
};

// Everything the SQLite run asserts, with both checks shared by the PostgreSQL run.
void ExpectAllSucceeded(const std::map<std::string, collector::Job>& ended,
                        const std::set<std::string>& killed) {
  int retried = 0;
  for (const auto& [id, job] : ended) {
    EXPECT_EQ(job.state(), collector::SUCCEEDED) << id << ": " << job.error().message();
    if (job.attempt() > 1) ++retried;
  }
  for (const auto& id : killed) {
    EXPECT_GE(ended.at(id).attempt(), 2) << id << " was running on a killed worker";
    EXPECT_FALSE(ended.at(id).attempts().empty());
  }
  EXPECT_GE(retried, 2);
}

TEST_F(Chaos, KilledWorkersLoseNoJobAndLeaveNoTrace) {
  ASSERT_NO_FATAL_FAILURE(QueueBackups());
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  ASSERT_NO_FATAL_FAILURE(KillTwoWorkersMidJob());

  // Every job ends, and ends SUCCEEDED; the interrupted ones on a later attempt.
  auto ended = WaitForAllToEnd();
  ASSERT_EQ(static_cast<int>(ended.size()), kJobs);
  std::printf("%d jobs ended %.1f s after the workers started\n", kJobs, elapsed());
  ExpectAllSucceeded(ended, killed_jobs_);

  ExpectEveryBackupOnceAndValid();
  std::printf("%d backups verified %.1f s after the workers started\n", kJobs, elapsed());
}

// A PostgreSQL cluster of the test's own (it is restarted mid-run), started before the
// processes that use it.
struct OwnPostgres {
  OwnPostgres() {
    auto started = PgCluster::Start(/*adopt=*/false);
    if (!started) {
      ADD_FAILURE() << started.error().message();
      return;
    }
    cluster = std::move(*started);
    if (auto made = cluster->EnsureDatabase("chaos"); !made)
      ADD_FAILURE() << made.error().message();
    uri = cluster->ConnInfo("chaos");
  }
  std::unique_ptr<PgCluster> cluster;
  std::string uri = "postgresql://unavailable";
};

class ChaosOnPostgres : public OwnPostgres, public Chaos {
 protected:
  ChaosOnPostgres() : Chaos({"--control", OwnPostgres::uri}) {}
};

TEST_F(ChaosOnPostgres, KilledWorkersAndARestartedDatabaseLoseNoJobAndLeaveNoTrace) {
  ASSERT_NE(cluster, nullptr);
  ASSERT_NO_FATAL_FAILURE(QueueBackups());
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  ASSERT_NO_FATAL_FAILURE(KillTwoWorkersMidJob());
  // Mid-run, with jobs running on the replacement workers: every connection is cut.
  std::printf("restarting PostgreSQL %.1f s after the workers started\n", elapsed());
  ASSERT_TRUE(cluster->Restart());
  std::printf("PostgreSQL back %.1f s after the workers started\n", elapsed());

  auto ended = WaitForAllToEnd();
  ASSERT_EQ(static_cast<int>(ended.size()), kJobs);
  std::printf("%d jobs ended %.1f s after the workers started\n", kJobs, elapsed());
  ExpectAllSucceeded(ended, killed_jobs_);
  ExpectEveryBackupOnceAndValid();
  std::printf("%d backups verified %.1f s after the workers started\n", kJobs, elapsed());
  // The restart reached the processes: backupd's listener and a worker's lost the server
  // and came back (the two replacement workers may still have been starting).
  auto saw_restart = [](const fs::path& log) {
    return ReadFile(log).find("listener lost its connection") != std::string::npos;
  };
  EXPECT_TRUE(saw_restart(data_.string() + ".log"));
  int workers_saw = 0;
  for (const auto& e : fs::directory_iterator(dir_.path())) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("data.w") && name.ends_with(".log") && saw_restart(e.path())) {
      ++workers_saw;
    }
  }
  EXPECT_GE(workers_saw, 1);
}

}  // namespace
}  // namespace backup::testing
