// Backup policies. The scheduler alone (three schedulers on one control database, as three
// processes would be), then the whole of it through backupd: scheduled backups, retention
// through the safe delete, verify after backup, forget --dry-run, and the checks at the edge.
#include <gtest/gtest.h>

#include <barrier>
#include <csignal>
#include <map>
#include <set>
#include <thread>

#include "backup_policies.grpc.pb.h"
#include "common/policy_keys.h"
#include "control/sqlite/sqlite_control_store.h"
#include "tests/process.h"
#include "tests/server_fixture.h"
#include "worker/policy_scheduler.h"

namespace backup::testing {
namespace {

using std::chrono::seconds;
using std::chrono::sys_seconds;

// --- The scheduler against a real control database -----------------------------------------

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto stores = StoreSet::Open({}, dir_.path() / "store");
    ASSERT_TRUE(stores) << stores.error().message();
    stores_ = std::move(*stores);
    for (int i = 0; i < 3; ++i) {
      auto store = SqliteControlStore::Open({.path = (dir_.path() / "control.db").string()});
      ASSERT_TRUE(store) << store.error().message();
      handles_.push_back(std::move(*store));
    }
    for (int c = 0; c < 4; ++c) {
      CollectionRecord record;
      record.name = {"sched", "c" + std::to_string(c)};
      record.db_path = (dir_.path() / record.name.name).string();
      ASSERT_TRUE(handles_[0]->CreateCollection(record));
    }
    CollectionRecord other;
    other.name = {"elsewhere", "x"};
    ASSERT_TRUE(handles_[0]->CreateCollection(other));
    PolicyRecord policy{.name = "every10", .ns = "sched", .schedule = "@every 10s"};
    ASSERT_TRUE(handles_[0]->CreatePolicy(policy));
    for (auto& handle : handles_) {
      schedulers_.push_back(std::make_unique<PolicyScheduler>(
          *handle, *handle, *handle, *stores_, std::vector{dir_.path()}, PolicySchedulerOptions{}));
    }
  }

  // Every scheduler ticks at `now` at the same moment, `rounds` times.
  void TickAll(sys_seconds now, int rounds = 3) {
    std::barrier start(static_cast<std::ptrdiff_t>(schedulers_.size()));
    std::vector<std::thread> threads;
    for (auto& scheduler : schedulers_) {
      threads.emplace_back([&, s = scheduler.get()] {
        for (int i = 0; i < rounds; ++i) {
          start.arrive_and_wait();
          s->Tick(now);
        }
      });
    }
    for (auto& t : threads) t.join();
  }

  // Slot (unix seconds) -> the collections that have a backup job for it.
  std::map<int64_t, std::multiset<std::string>> JobsBySlot() {
    JobQuery query;
    query.page_size = 1000;
    auto page = handles_[0]->ListJobs(query);
    EXPECT_TRUE(page);
    std::map<int64_t, std::multiset<std::string>> slots;
    for (const Job& job : page->jobs) {
      auto backup = handles_[0]->GetBackup(job.backup_id);
      EXPECT_TRUE(backup);
      EXPECT_EQ(backup->metadata[std::string(kPolicyMetadataKey)], "every10");
      slots[std::stoll(backup->metadata[std::string(kSlotMetadataKey)])].insert(
          job.collection.Key());
    }
    return slots;
  }

  TempDir dir_;
  std::unique_ptr<StoreSet> stores_;
  std::vector<std::unique_ptr<SqliteControlStore>> handles_;
  std::vector<std::unique_ptr<PolicyScheduler>> schedulers_;
};

const std::multiset<std::string> kSelected = {"sched/c0", "sched/c1", "sched/c2", "sched/c3"};

TEST_F(SchedulerTest, ThreeSchedulersQueueOneJobPerCollectionPerSlot) {
  const sys_seconds now(seconds(1'800'000'004));  // slot 1'800'000'000
  TickAll(now);
  auto slots = JobsBySlot();
  ASSERT_EQ(slots.size(), 1u);
  EXPECT_EQ(slots.begin()->first, 1'800'000'000);
  EXPECT_EQ(slots.begin()->second, kSelected);  // one each, nothing outside the namespace
  auto policy = handles_[1]->GetPolicy("every10");
  ASSERT_TRUE(policy);
  EXPECT_EQ(policy->last_slot, 1'800'000'000);

  TickAll(now + seconds(5));  // still the same slot
  EXPECT_EQ(JobsBySlot().size(), 1u);
}

TEST_F(SchedulerTest, AfterDowntimeOnlyTheLatestMissedSlotRuns) {
  TickAll(sys_seconds(seconds(1'800'000'004)));
  TickAll(sys_seconds(seconds(1'800'000'104)));  // ten slots later
  auto slots = JobsBySlot();
  ASSERT_EQ(slots.size(), 2u);
  EXPECT_EQ(slots.rbegin()->first, 1'800'000'100);
  EXPECT_EQ(slots.rbegin()->second, kSelected);
}

TEST_F(SchedulerTest, ASlotWhoseJobsWerePrunedDoesNotRunAgain) {
  const sys_seconds now(seconds(1'800'000'004));
  TickAll(now);
  JobQuery query;
  auto page = handles_[0]->ListJobs(query);
  ASSERT_TRUE(page);
  for (const Job& job : page->jobs) ASSERT_TRUE(handles_[0]->CancelJob(job.id));
  auto pruned = handles_[0]->PruneFinishedJobs(std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(pruned);
  EXPECT_EQ(*pruned, 4);
  TickAll(now);
  page = handles_[0]->ListJobs(query);
  ASSERT_TRUE(page);
  EXPECT_TRUE(page->jobs.empty());
}

TEST_F(SchedulerTest, APausedPolicyQueuesNothingAndJitterDelaysTheSlotAlikeEverywhere) {
  auto policy = handles_[0]->GetPolicy("every10");
  ASSERT_TRUE(policy);
  policy->paused = true;
  ASSERT_TRUE(handles_[0]->UpdatePolicy(*policy));
  TickAll(sys_seconds(seconds(1'800'000'004)));
  EXPECT_TRUE(JobsBySlot().empty());

  policy->paused = false;
  policy->jitter_s = 8;
  ASSERT_TRUE(handles_[0]->UpdatePolicy(*policy));
  ASSERT_TRUE(handles_[0]->AdvancePolicySlot("every10", 1'799'999'990));  // the slot before ran
  const sys_seconds slot(seconds(1'800'000'000));
  const sys_seconds at = JitteredSlot("every10", slot, 8);
  EXPECT_EQ(at, JitteredSlot("every10", slot, 8));
  EXPECT_GE(at, slot);
  EXPECT_LT(at, slot + seconds(8));
  ASSERT_GT(at, slot) << "these inputs must give a delay, or the next check proves nothing";
  TickAll(at - seconds(1));
  EXPECT_TRUE(JobsBySlot().empty()) << "ran before its jittered time";
  TickAll(at);
  EXPECT_EQ(JobsBySlot().size(), 1u);
}

// --- Through backupd ----------------------------------------------------------------------

class PolicyServiceTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    policies_ = collector::BackupPolicies::NewStub(channel_);
  }

  grpc::Status Create(const collector::ScheduledBackupPolicy& policy,
                      collector::PolicyResponse* response) {
    collector::CreatePolicyRequest request;
    *request.mutable_policy() = policy;
    return policies_->CreatePolicy(Ctx().get(), request, response);
  }

  static collector::ScheduledBackupPolicy Every(const std::string& name, const std::string& ns,
                                                const std::string& every, int keep_last) {
    collector::ScheduledBackupPolicy p;
    p.set_name(name);
    p.mutable_selector()->set_namespace_(ns);
    p.set_schedule("@every " + every);
    p.mutable_retention()->set_keep_last(keep_last);
    return p;
  }

  std::vector<collector::BackupMetadata> Backups(const std::string& ns, const std::string& name) {
    collector::ListBackupsRequest request;
    request.mutable_collection()->set_namespace_(ns);
    request.mutable_collection()->set_name(name);
    collector::ListBackupsResponse response;
    EXPECT_TRUE(repo_->ListBackups(Ctx().get(), request, &response).ok());
    return {response.backups().begin(), response.backups().end()};
  }

  std::vector<collector::Job> Jobs(collector::JobState state) {
    collector::ListJobsRequest request;
    request.set_state(state);
    request.set_page_size(1000);
    collector::ListJobsResponse response;
    EXPECT_TRUE(jobs_->ListJobs(Ctx().get(), request, &response).ok());
    return {response.jobs().begin(), response.jobs().end()};
  }

  std::unique_ptr<collector::BackupPolicies::Stub> policies_;
};

TEST_F(PolicyServiceTest, ScheduledBackupsKeepTheLastTwoAndSpareManualOnes) {
  for (const char* name : {"a", "b", "c"}) CreateCollection("sched", name, 50);
  CreateCollection("other", "z", 10);
  const std::string manual = Backup("sched", "a").backup().backup_id();
  auto policy = Every("every2", "sched", "2s", 2);
  policy.set_verify(true);
  collector::PolicyResponse created;
  auto status = Create(policy, &created);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_GT(created.policy().next_slot(), 0);
  EXPECT_EQ(created.policy().time_zone(), "UTC");

  // Until every collection has had four scheduled backups succeed.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::map<std::string, int> succeeded;
  while (std::chrono::steady_clock::now() < deadline) {
    succeeded.clear();
    for (const auto& job : Jobs(collector::SUCCEEDED)) {
      if (job.kind() == collector::BACKUP && job.submitted_by() == "policy:every2") {
        ++succeeded[job.collection().name()];
      }
    }
    if (succeeded.size() == 3 && std::all_of(succeeded.begin(), succeeded.end(),
                                             [](const auto& e) { return e.second >= 4; })) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(succeeded.size(), 3u) << "scheduled backups did not run in every collection";
  collector::SetPolicyPausedRequest pause;
  pause.set_name("every2");
  pause.set_paused(true);
  collector::PolicyResponse paused;
  ASSERT_TRUE(policies_->SetPolicyPaused(Ctx().get(), pause, &paused).ok());
  EXPECT_EQ(paused.policy().next_slot(), 0);

  // Once the queue drains and retention followed the last jobs up: two each.
  std::map<std::string, int> kept;
  for (int i = 0; i < 100; ++i) {
    kept.clear();
    for (const char* name : {"a", "b", "c"}) {
      for (const auto& b : Backups("sched", name)) {
        if (b.metadata().contains("collector.policy")) ++kept[name];
      }
    }
    if (Jobs(collector::QUEUED).empty() && Jobs(collector::RUNNING).empty() &&
        std::all_of(kept.begin(), kept.end(), [](const auto& e) { return e.second == 2; })) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(kept, (std::map<std::string, int>{{"a", 2}, {"b", 2}, {"c", 2}}));
  auto a = Backups("sched", "a");
  EXPECT_TRUE(std::any_of(a.begin(), a.end(), [&](const auto& b) {
    return b.backup_id() == manual;
  })) << "retention removed a backup the policy did not make";
  EXPECT_TRUE(Backups("other", "z").empty()) << "the policy reached outside its namespace";
  int verified = 0;
  for (const auto& job : Jobs(collector::SUCCEEDED)) {
    verified += job.kind() == collector::VERIFY && job.submitted_by() == "policy:every2";
  }
  EXPECT_GE(verified, 3);

  collector::ForgetBackupsRequest forget;
  forget.set_policy("every2");
  forget.set_dry_run(true);
  collector::ForgetBackupsResponse verdicts;
  ASSERT_TRUE(policies_->ForgetBackups(Ctx().get(), forget, &verdicts).ok());
  ASSERT_EQ(verdicts.collections_size(), 3);
  for (const auto& c : verdicts.collections()) {
    ASSERT_EQ(c.backups_size(), 2) << c.collection().name();
    EXPECT_TRUE(c.backups(0).keep());
    EXPECT_EQ(c.backups(0).reasons(0), "last 2");
    EXPECT_EQ(c.removed(), 0);
  }
}

TEST_F(PolicyServiceTest, ForgetJudgesOnlyThePolicysOwnBackups) {
  CreateCollection("dry", "a", 20);
  collector::PolicyResponse created;
  ASSERT_TRUE(Create(Every("hourly", "dry", "1h", 1), &created).ok());
  for (int i = 0; i < 2; ++i) Watch(Backup("dry", "a").job().job_id());
  collector::ForgetBackupsRequest forget;
  forget.set_policy("hourly");
  for (bool dry_run : {true, false}) {
    forget.set_dry_run(dry_run);
    collector::ForgetBackupsResponse response;
    ASSERT_TRUE(policies_->ForgetBackups(Ctx().get(), forget, &response).ok());
    ASSERT_EQ(response.collections_size(), 1);
    EXPECT_EQ(response.collections(0).backups_size(), 0) << "manual backups are not the policy's";
    EXPECT_EQ(response.collections(0).removed(), 0);
  }
  EXPECT_EQ(Backups("dry", "a").size(), 2u);
}

TEST_F(PolicyServiceTest, BadPoliciesAndReservedKeysAreRefused) {
  collector::PolicyResponse response;
  auto bad_schedule = Every("bad", "sched", "2s", 1);
  bad_schedule.set_schedule("61 * * * *");
  auto status = Create(bad_schedule, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("61"), std::string::npos) << status.error_message();
  auto bad_store = Every("bad", "sched", "2s", 1);
  bad_store.set_store("nowhere");
  EXPECT_EQ(Create(bad_store, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto bad_keep = Every("bad", "sched", "2s", -1);
  EXPECT_EQ(Create(bad_keep, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto bad_name = Every("../x", "sched", "2s", 1);
  EXPECT_EQ(Create(bad_name, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto bad_within = Every("bad", "sched", "2s", 0);
  bad_within.mutable_retention()->set_keep_within("forever");
  EXPECT_EQ(Create(bad_within, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(Create(Every("good", "sched", "1h", 1), &response).ok());
  EXPECT_EQ(Create(Every("good", "sched", "1h", 1), &response).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);

  CreateCollection("sched", "a", 5);
  collector::BackupCollectionRequest backup;
  backup.set_wait(false);
  backup.mutable_collection()->set_namespace_("sched");
  backup.mutable_collection()->set_name("a");
  backup.set_idempotency_key("policy/good/1800000000/sched/a");
  collector::BackupCollectionResponse queued;
  status = repo_->BackupCollection(Ctx().get(), backup, &queued);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("reserved"), std::string::npos) << status.error_message();
  backup.clear_idempotency_key();
  (*backup.mutable_metadata())["collector.policy"] = "good";
  status = repo_->BackupCollection(Ctx().get(), backup, &queued);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("collector."), std::string::npos);
}

// --- The acceptance run, shortened: real processes ---------------------------------

namespace fleet {
namespace fs = std::filesystem;

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return c;
}

// A front-end backupd and three backup-worker processes on one data directory; a policy
// every 3 s keeping the last 3 over a namespace of ten collections, for ~25 s. Every slot
// gives exactly one backup job per collection, and retention leaves exactly 3 each.
TEST(PolicyFleetTest, ThreeWorkerProcessesRunEachSlotOnceAndKeepTheLastThree) {
  TempDir dir;
  const fs::path data = dir.path() / "data";
  BackupdProcess front(data, /*workers=*/0);
  std::vector<std::unique_ptr<Process>> workers;
  for (int i = 0; i < 3; ++i) {
    const std::string id = "w" + std::to_string(i);
    workers.push_back(std::make_unique<Process>(
        std::vector<std::string>{BACKUP_WORKER_PATH, "--data-dir", data.string(), "--workers", "2",
                                 "--lease-seconds", "2", "--worker-id", id},
        data.string() + "." + id + ".log"));
  }
  auto channel = grpc::CreateChannel(front.address(), grpc::InsecureChannelCredentials());
  auto repo = collector::CollectionRepo::NewStub(channel);
  auto policies = collector::BackupPolicies::NewStub(channel);
  const DataLayout layout(data);
  for (int c = 0; c < 10; ++c) {
    collector::CreateCollectionRequest create;
    create.mutable_collection()->set_namespace_("fleet");
    create.mutable_collection()->set_name("c" + std::to_string(c));
    collector::CreateCollectionResponse created;
    ASSERT_TRUE(repo->CreateCollection(Ctx().get(), create, &created).ok());
    FillRecords(layout.CollectionDb({"fleet", "c" + std::to_string(c)}), 200);
  }
  collector::CreatePolicyRequest create;
  auto& policy = *create.mutable_policy();
  policy.set_name("every3");
  policy.mutable_selector()->set_namespace_("fleet");
  policy.set_schedule("@every 3s");
  policy.mutable_retention()->set_keep_last(3);
  collector::PolicyResponse created;
  auto status = policies->CreatePolicy(Ctx().get(), create, &created);
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::this_thread::sleep_for(std::chrono::seconds(25));
  collector::SetPolicyPausedRequest pause;
  pause.set_name("every3");
  pause.set_paused(true);
  ASSERT_TRUE(policies->SetPolicyPaused(Ctx().get(), pause, &created).ok());

  // Every slot's job per collection, from the job table itself.
  std::map<int64_t, std::multiset<std::string>> slots;
  std::map<std::string, int> kept;
  for (int i = 0; i < 150; ++i) {
    auto db = sql::Database::Open(layout.ControlDb().string(), {.read_only = true});
    ASSERT_TRUE(db);
    auto active = db->QueryInt("SELECT COUNT(*) FROM jobs WHERE state IN ('QUEUED','RUNNING')");
    ASSERT_TRUE(active);
    slots.clear();
    auto jobs = db->Prepare("SELECT idempotency_key FROM jobs WHERE kind = 'BACKUP'");
    ASSERT_TRUE(jobs);
    while (*jobs->Step()) {
      const std::string key = jobs->Text(0);  // policy/every3/<slot>/fleet/<name>
      const auto slot_at = key.find('/', 7) + 1;
      const auto slot_end = key.find('/', slot_at);
      slots[std::stoll(key.substr(slot_at, slot_end - slot_at))].insert(key.substr(slot_end + 1));
    }
    kept.clear();
    auto backups = db->Prepare(
        "SELECT collection_name, COUNT(*) FROM backups WHERE state = 'COMPLETED' "
        "GROUP BY collection_name");
    ASSERT_TRUE(backups);
    while (*backups->Step()) kept[backups->Text(0)] = static_cast<int>(backups->Int(1));
    if (*active == 0 && kept.size() == 10 &&
        std::all_of(kept.begin(), kept.end(), [](const auto& e) { return e.second == 3; })) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::multiset<std::string> all;
  for (int c = 0; c < 10; ++c) all.insert("fleet/c" + std::to_string(c));
  EXPECT_GE(slots.size(), 5u) << "too few slots ran in 25 s";
  for (const auto& [slot, collections] : slots) {
    EXPECT_EQ(slot % 3, 0) << "a job for a time that is not a slot: " << slot;
    EXPECT_EQ(collections, all) << "slot " << slot << " ran other than once per collection";
  }
  for (int c = 0; c < 10; ++c) {
    EXPECT_EQ(kept["c" + std::to_string(c)], 3) << "collection c" << c;
  }
  for (auto& worker : workers) worker->Signal(SIGTERM);
  for (auto& worker : workers) EXPECT_EQ(worker->Wait(), 0);
}

}  // namespace fleet
}  // namespace
}  // namespace backup::testing
