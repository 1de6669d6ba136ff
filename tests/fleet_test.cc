// A fleet on one machine: three nodes (process groups with their own data roots, each a
// front-end backupd and two backup-worker processes with --node) share one PostgreSQL and
// one S3 server. 500 backups over 100 collections are submitted through any node's backupd;
// two workers are SIGKILLed mid-job and PostgreSQL is restarted during the run. Every job
// must succeed on its collection's node, each backup exist once (on its node's disk or in
// S3) and verify, and nothing temporary remain. Then the API called on one node acts on
// another's disk only through the job table: a delete runs on the backup's node, a restore
// across two nodes' disks is refused, a restore of an S3 backup runs where it was asked.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
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
#include "tests/s3_server.h"
#include "tests/test_util.h"

namespace backup::testing {
namespace {
namespace fs = std::filesystem;

constexpr int kNodes = 3;
constexpr int kCollections = 100;
constexpr int kJobs = 500;

std::unique_ptr<grpc::ClientContext> Ctx(int seconds = 60) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return c;
}

std::string NodeName(int k) { return "n" + std::to_string(k + 1); }
CollectionName CollectionOf(int c) { return {"fleet", "c" + std::to_string(c)}; }
// Collection c lives on node c % kNodes; the odd ones back up to S3, the even ones to
// their node's own store.
int NodeOf(int c) { return c % kNodes; }
bool Offsite(int c) { return c % 2 == 1; }

bool RanOn(const std::string& worker_id, const std::string& node) {
  return worker_id.rfind(node + "-", 0) == 0;
}

struct Node {
  std::string name;
  fs::path data;
  std::unique_ptr<BackupdProcess> front;
  std::unique_ptr<collector::CollectionRepo::Stub> repo;
  std::unique_ptr<collector::BackupJobs::Stub> jobs;
};

class Fleet : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = PgCluster::Start(/*adopt=*/false);
    ASSERT_TRUE(started) << started.error().message();
    cluster_ = std::move(*started);
    ASSERT_TRUE(cluster_->EnsureDatabase("fleet"));
    std::ofstream(dir_.path() / "credentials")
        << "[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n";
    for (int k = 0; k < kNodes; ++k) {
      Node node{.name = NodeName(k), .data = dir_.path() / NodeName(k)};
      node.front =
          std::make_unique<BackupdProcess>(node.data, /*workers=*/0, /*lease=*/1, Flags(node.name));
      ASSERT_NE(node.front->port(), 0);
      auto channel = grpc::CreateChannel(node.front->address(), grpc::InsecureChannelCredentials());
      node.repo = collector::CollectionRepo::NewStub(channel);
      node.jobs = collector::BackupJobs::NewStub(channel);
      nodes_.push_back(std::move(node));
    }
  }

  // The flags every process of node `name` takes.
  std::vector<std::string> Flags(const std::string& name) const {
    return {"--control",
            cluster_->ConnInfo("fleet"),
            "--node",
            name,
            "--store",
            "offsite=" + s3_.Url("fleet"),
            "--s3-credentials-file",
            (dir_.path() / "credentials").string()};
  }

  Node& NodeNamed(const std::string& name) { return nodes_.at(std::stoi(name.substr(1)) - 1); }

  void StartWorker(int k, const std::string& id) {
    workers_[id] = StartBackupWorker(nodes_[k].data, id, Flags(nodes_[k].name));
  }

  // Each collection registered through its own node's backupd, its files on that disk.
  void CreateCollections() {
    for (int c = 0; c < kCollections; ++c) {
      Node& node = nodes_[NodeOf(c)];
      collector::CreateCollectionRequest create;
      create.mutable_collection()->set_namespace_(CollectionOf(c).ns);
      create.mutable_collection()->set_name(CollectionOf(c).name);
      collector::CreateCollectionResponse created;
      auto s = node.repo->CreateCollection(Ctx().get(), create, &created);
      ASSERT_TRUE(s.ok()) << s.error_message();
      const DataLayout layout(node.data);
      FillRecords(layout.CollectionDb(CollectionOf(c)), 300, 1'000);
      WriteFiles(layout.CollectionFilesDir(CollectionOf(c)), 2, 4'096);
    }
  }

  // kJobs backups, each submitted through a node chosen without regard to the collection's.
  void QueueBackups() {
    for (int j = 0; j < kJobs; ++j) {
      const int c = j % kCollections;
      collector::BackupCollectionRequest r;
      r.set_wait(false);
      r.mutable_collection()->set_namespace_(CollectionOf(c).ns);
      r.mutable_collection()->set_name(CollectionOf(c).name);
      r.set_include_files(true);
      if (Offsite(c)) r.set_store("offsite");
      collector::BackupCollectionResponse queued;
      auto s =
          nodes_[(j / kCollections + j) % kNodes].repo->BackupCollection(Ctx().get(), r, &queued);
      ASSERT_TRUE(s.ok()) << s.error_message();
      expected_node_[queued.job().job_id()] = NodeName(NodeOf(c));
      backup_ids_.push_back(queued.backup().backup_id());
    }
  }

  std::vector<collector::Job> RunningJobs() {
    collector::ListJobsRequest list;
    list.set_state(collector::RUNNING);
    collector::ListJobsResponse running;
    // May fail while PostgreSQL restarts: then nothing is seen running this time.
    if (!nodes_[0].jobs->ListJobs(Ctx().get(), list, &running).ok()) return {};
    return {running.jobs().begin(), running.jobs().end()};
  }

  // Starts two workers per node, then twice SIGKILLs a worker caught in the middle of a
  // job (on two different nodes) and starts a replacement on the same node.
  void KillTwoWorkersMidJob() {
    for (int k = 0; k < kNodes; ++k) {
      for (const char* w : {"-w1", "-w2"}) StartWorker(k, nodes_[k].name + w);
    }
    std::set<std::string> killed_on;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (killed_on.size() < 2 && std::chrono::steady_clock::now() < deadline) {
      for (const auto& job : RunningJobs()) {
        const std::string& id = job.worker_id();
        if (!workers_.count(id) || job.progress().phase() == "starting" ||
            killed_on.count(job.node())) {
          continue;
        }
        workers_.at(id)->Signal(SIGKILL);
        workers_.at(id)->Wait();
        workers_.erase(id);
        StartWorker(std::stoi(job.node().substr(1)) - 1, id + "-again");
        for (const auto& j : RunningJobs()) {
          if (j.worker_id() == id) killed_jobs_.insert(j.job_id());
        }
        killed_on.insert(job.node());
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(killed_on.size(), 2u) << "no job was caught running on two nodes";
  }

  // Every backup, listed through node n2.
  std::vector<collector::BackupMetadata> AllBackups() {
    collector::ListBackupsRequest list;
    collector::ListBackupsResponse backups;
    auto s = nodes_[1].repo->ListBackups(Ctx().get(), list, &backups);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(backups.total_count(), kJobs);
    return {backups.backups().begin(), backups.backups().end()};
  }

  // The regular files under `dir` (none when it does not exist); a ".partial" fails.
  static int FilesUnder(const fs::path& dir) {
    int files = 0;
    if (!fs::exists(dir)) return 0;
    for (auto& e : fs::recursive_directory_iterator(dir)) {
      EXPECT_EQ(e.path().filename().string().find(".partial"), std::string::npos) << e.path();
      if (e.is_regular_file()) ++files;
    }
    return files;
  }

  // Every process's log lines that mention `id`, or a job a line about `id` names
  // ("job=job-..."), to explain a failure.
  std::string LogLinesAbout(const std::string& id) const {
    std::vector<std::pair<std::string, std::string>> all;  // (log, line)
    for (const auto& log : fs::directory_iterator(dir_.path())) {
      if (log.path().extension() != ".log") continue;
      std::istringstream in(ReadFile(log.path()));
      for (std::string line; std::getline(in, line);) {
        all.emplace_back(log.path().filename().string(), line);
      }
    }
    std::set<std::string> ids{id};
    for (const auto& [log, line] : all) {
      const size_t job = line.find("job=job-");
      if (line.find(id) != std::string::npos && job != std::string::npos) {
        ids.insert(line.substr(job + 4, line.find(' ', job) - job - 4));
      }
    }
    std::string out;
    for (const auto& entry : all) {
      const std::string& line = entry.second;
      if (std::any_of(ids.begin(), ids.end(),
                      [&](const std::string& i) { return line.find(i) != std::string::npos; })) {
        out.append(entry.first).append(": ").append(line).append("\n");
      }
    }
    return out;
  }

  // Nothing is left in the node's staging area once the attempts still finishing have
  // cleaned up (up to 30 s; a wait is printed); what is left is named with every log line
  // about it.
  void ExpectNothingStaged(const Node& node) const {
    const fs::path staging = node.data / "staging";
    const auto start = std::chrono::steady_clock::now();
    while (fs::exists(staging) && !fs::is_empty(staging) &&
           std::chrono::steady_clock::now() - start < std::chrono::seconds(30)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const std::chrono::duration<double> waited = std::chrono::steady_clock::now() - start;
    if (waited.count() > 0.5)
      std::printf("%s staging emptied after %.1f s\n", node.name.c_str(), waited.count());
    if (!fs::exists(staging)) return;
    for (const auto& e : fs::recursive_directory_iterator(staging)) {
      const std::string name = e.path().filename().string();
      ADD_FAILURE() << node.name << " left " << e.path() << " in staging\n"
                    << LogLinesAbout(name.substr(0, name.find('.')));
    }
  }

  // Queues a verify of every backup through the node after its own, and waits for them.
  void VerifyEachThroughAnotherNode(const std::vector<collector::BackupMetadata>& backups) {
    std::vector<std::string> ids;
    std::map<std::string, std::string> node_of_job;
    ids.reserve(backups.size());
    for (size_t i = 0; i < backups.size(); ++i) {
      collector::VerifyBackupRequest verify;
      verify.set_backup_id(backups[i].backup_id());
      verify.set_wait(false);
      collector::VerifyBackupResponse queued;
      auto s = nodes_[i % kNodes].repo->VerifyBackup(Ctx().get(), verify, &queued);
      ASSERT_TRUE(s.ok()) << s.error_message();
      ids.push_back(queued.job().job_id());
      node_of_job[ids.back()] = backups[i].node();
    }
    auto ended = WaitForJobsToEnd(*nodes_[2].jobs, ids, std::chrono::seconds(240));
    ASSERT_EQ(ended.size(), ids.size());
    for (const auto& [id, job] : ended) {
      ASSERT_EQ(job.state(), collector::SUCCEEDED) << id << ": " << job.error().message();
      EXPECT_TRUE(job.verify_result().is_valid()) << job.verify_result().error_message();
      const std::string& node = node_of_job[id];
      EXPECT_EQ(job.node(), node);
      if (!node.empty()) {
        EXPECT_TRUE(RanOn(job.worker_id(), node)) << job.worker_id();
      }
    }
  }

  std::unique_ptr<PgCluster> cluster_;
  S3Server s3_{"fleet-bucket"};
  TempDir dir_;
  std::vector<Node> nodes_;
  std::map<std::string, std::unique_ptr<Process>> workers_;
  std::map<std::string, std::string> expected_node_;  // backup job id -> its node
  std::vector<std::string> backup_ids_;
  std::set<std::string> killed_jobs_;
};

TEST_F(Fleet, ThreeNodesRunEachJobOnItsNodeThroughKillsAndADatabaseRestart) {
  ASSERT_NO_FATAL_FAILURE(CreateCollections());
  ASSERT_NO_FATAL_FAILURE(QueueBackups());
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  ASSERT_NO_FATAL_FAILURE(KillTwoWorkersMidJob());
  std::printf("restarting PostgreSQL %.1f s after the workers started\n", elapsed());
  ASSERT_TRUE(cluster_->Restart());

  std::vector<std::string> ids;
  ids.reserve(expected_node_.size());
  for (const auto& [id, node] : expected_node_) ids.push_back(id);
  auto ended = WaitForJobsToEnd(*nodes_[0].jobs, ids, std::chrono::seconds(240));
  ASSERT_EQ(static_cast<int>(ended.size()), kJobs);
  std::printf("%d jobs on %d nodes ended %.1f s after the workers started\n", kJobs, kNodes,
              elapsed());
  for (const auto& [id, job] : ended) {
    EXPECT_EQ(job.state(), collector::SUCCEEDED) << id << ": " << job.error().message();
    const std::string& node = expected_node_.at(id);
    EXPECT_EQ(job.node(), node) << id;
    EXPECT_TRUE(RanOn(job.worker_id(), node)) << id << " ran on " << job.worker_id();
    for (const auto& a : job.attempts()) EXPECT_TRUE(RanOn(a.worker_id(), node)) << id;
  }
  for (const auto& id : killed_jobs_) EXPECT_GE(ended.at(id).attempt(), 2) << id;

  // Each backup once: on its node's disk, or in S3.
  const auto backups = AllBackups();
  std::map<std::string, int> local_on;
  int offsite = 0;
  for (const auto& b : backups) {
    EXPECT_EQ(b.state(), collector::BACKUP_COMPLETED) << b.backup_id();
    const int c = std::stoi(b.collection().name().substr(1));
    EXPECT_EQ(b.node(), Offsite(c) ? "" : NodeName(NodeOf(c))) << b.backup_id();
    EXPECT_EQ(b.storage_type(), Offsite(c) ? "s3" : "local") << b.backup_id();
    if (Offsite(c)) {
      ++offsite;
    } else {
      ++local_on[b.node()];
    }
  }
  EXPECT_EQ(offsite, kJobs / 2);
  for (const Node& node : nodes_) {
    EXPECT_EQ(FilesUnder(node.data / "store"), local_on[node.name]) << node.name;
  }
  ASSERT_NO_FATAL_FAILURE(VerifyEachThroughAnotherNode(backups));
  std::printf("%d backups verified %.1f s after the workers started\n", kJobs, elapsed());
  for (const Node& node : nodes_) ExpectNothingStaged(node);
  // The restart reached the processes: some listener lost the server and came back.
  int saw_restart = 0;
  for (const auto& e : fs::directory_iterator(dir_.path())) {
    if (e.path().extension() == ".log" &&
        ReadFile(e.path()).find("listener lost its connection") != std::string::npos) {
      ++saw_restart;
    }
  }
  EXPECT_GE(saw_restart, 1);
}

// The API on one node reaches another node's disk only through a job that runs there.
TEST_F(Fleet, CallsOnOneNodeActOnAnothersDiskOnlyThroughItsJobs) {
  ASSERT_NO_FATAL_FAILURE(CreateCollections());
  for (int k = 0; k < kNodes; ++k) StartWorker(k, nodes_[k].name + "-w1");
  // Backups of c1 (node n2, to S3) and c4 (node n2, its own store), asked of n1.
  auto backup = [&](int c) {
    collector::BackupCollectionRequest r;
    r.mutable_collection()->set_namespace_(CollectionOf(c).ns);
    r.mutable_collection()->set_name(CollectionOf(c).name);
    if (Offsite(c)) r.set_store("offsite");
    r.set_wait(true);
    collector::BackupCollectionResponse done;
    auto s = nodes_[0].repo->BackupCollection(Ctx().get(), r, &done);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(done.job().state(), collector::SUCCEEDED) << done.job().error().message();
    EXPECT_TRUE(RanOn(done.job().worker_id(), "n2")) << done.job().worker_id();
    return done.backup();
  };
  const auto in_s3 = backup(1);
  const auto on_n2 = backup(4);
  ASSERT_EQ(on_n2.node(), "n2");
  ASSERT_EQ(FilesUnder(NodeNamed("n2").data / "store"), 1);

  // A restore of n2's local backup into a collection on n1 would need both disks.
  collector::RestoreBackupRequest across;
  across.set_backup_id(on_n2.backup_id());
  across.set_dest_namespace("fleet");
  across.set_dest_name("c0");  // on n1
  across.set_overwrite(true);
  collector::RestoreBackupResponse refused;
  auto s = nodes_[2].repo->RestoreBackup(Ctx().get(), across, &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_NE(s.error_message().find("n2"), std::string::npos) << s.error_message();

  // The S3 backup restored into a new collection through n3: it runs and lands on n3.
  collector::RestoreBackupRequest restore;
  restore.set_backup_id(in_s3.backup_id());
  restore.set_dest_namespace("fleet");
  restore.set_dest_name("restored");
  restore.set_wait(true);
  collector::RestoreBackupResponse restored;
  s = nodes_[2].repo->RestoreBackup(Ctx().get(), restore, &restored);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(restored.job().state(), collector::SUCCEEDED) << restored.job().error().message();
  EXPECT_TRUE(RanOn(restored.job().worker_id(), "n3")) << restored.job().worker_id();
  EXPECT_TRUE(fs::exists(DataLayout(NodeNamed("n3").data).CollectionDb({"fleet", "restored"})));
  EXPECT_FALSE(fs::exists(DataLayout(NodeNamed("n1").data).CollectionDb({"fleet", "restored"})));

  // Deleting n2's local backup through n1: a DELETE job on n2 removes its file.
  collector::DeleteBackupRequest del;
  del.set_backup_id(on_n2.backup_id());
  collector::DeleteBackupResponse deleted;
  s = nodes_[0].repo->DeleteBackup(Ctx().get(), del, &deleted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GT(deleted.bytes_freed(), 0);
  EXPECT_EQ(FilesUnder(NodeNamed("n2").data / "store"), 0);
  collector::ListJobsRequest list;
  list.set_kind(collector::DELETE);
  collector::ListJobsResponse deletes;
  ASSERT_TRUE(nodes_[1].jobs->ListJobs(Ctx().get(), list, &deletes).ok());
  ASSERT_EQ(deletes.jobs_size(), 1);
  EXPECT_EQ(deletes.jobs(0).state(), collector::SUCCEEDED);
  EXPECT_TRUE(RanOn(deletes.jobs(0).worker_id(), "n2")) << deletes.jobs(0).worker_id();
  EXPECT_EQ(deletes.jobs(0).delete_result().bytes_freed(), deleted.bytes_freed());

  // With no worker on n2 the delete cannot finish: the call says so in bounded time
  // and the backup stays DELETING for n2 to finish later.
  const auto again = backup(10);  // on n2, its own store
  workers_.erase("n2-w1");
  del.set_backup_id(again.backup_id());
  s = nodes_[0].repo->DeleteBackup(Ctx(3).get(), del, &deleted);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << s.error_message();
  StartWorker(1, "n2-w2");
  collector::ListJobsResponse later;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(nodes_[1].jobs->ListJobs(Ctx().get(), list, &later).ok());
    if (later.jobs_size() == 2 && later.jobs(0).state() == collector::SUCCEEDED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(later.jobs_size(), 2);
  EXPECT_EQ(later.jobs(0).state(), collector::SUCCEEDED);
}

}  // namespace
}  // namespace backup::testing
