// Authentication and authorization over real gRPC: every RPC, called by every role, inside
// and outside the role's namespaces, is allowed or refused as the role table says, and a
// refused call changes nothing. Also: listings show only visible namespaces, the auth file
// is re-read atomically, and jobs record who submitted them.
#include <fstream>
#include <functional>

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "common/sha256.h"
#include "tests/server_fixture.h"

namespace backup::testing {
namespace {

using Code = grpc::StatusCode;

// Tokens in the auth file, each limited to namespace "prod" except the admin of everything.
constexpr const char* kRoot = "root-token";
constexpr const char* kProdAdmin = "prod-admin-token";
constexpr const char* kProdOperator = "prod-operator-token";
constexpr const char* kProdViewer = "prod-viewer-token";
constexpr const char* kTeamViewer = "team-viewer-token";

std::string Entry(const std::string& name, const std::string& token, const std::string& role,
                  const std::string& namespaces) {
  return R"({"name": ")" + name + R"(", "sha256": ")" + Sha256Hex(token) + R"(", "role": ")" +
         role + R"(", "namespaces": [)" + namespaces + "]}";
}

std::string TokensJson(const std::vector<std::string>& entries) {
  std::string json = R"({"tokens": [)";
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) json += ", ";
    json += entries[i];
  }
  return json + "]}";
}

void WriteAuthFile(const std::filesystem::path& path, const std::vector<std::string>& entries) {
  std::ofstream(path) << TokensJson(entries) << "\n";
}

// One RPC aimed at namespace `ns`, with the role it needs.
struct Call {
  const char* name;
  Role needed;
  std::function<grpc::Status(const std::string& ns)> run;
};

// Who calls: a token, and the role it has in namespace "prod" (none: not authenticated).
struct Caller {
  const char* token;
  std::optional<Role> role;
};

class AuthTest : public ServerTest {
 protected:
  void SetUp() override {
    auth_file_ = dir_.path() / "auth.json";
    WriteAuthFile(auth_file_, {Entry("root", kRoot, "admin", R"("*")"),
                               Entry("prod-admin", kProdAdmin, "admin", R"("prod")"),
                               Entry("prod-operator", kProdOperator, "operator", R"("prod")"),
                               Entry("prod-viewer", kProdViewer, "viewer", R"("prod")"),
                               Entry("team-viewer", kTeamViewer, "viewer", R"("team-*")")});
    options_.auth_file = auth_file_;
    StartServer(2);
    token_ = kRoot;
    for (const char* ns : {"prod", "other", "team-a"}) {
      CreateCollection(ns, "users", 20);
      auto backup = Backup(ns, "users");
      Watch(backup.job().job_id());
      backups_[ns] = backup.backup().backup_id();
      jobs_by_ns_[ns] = backup.job().job_id();
    }
  }

  // Every job, as the root token sees them.
  int JobCount() {
    std::string saved = std::exchange(token_, kRoot);
    collector::ListJobsRequest request;
    request.set_page_size(1000);
    collector::ListJobsResponse response;
    EXPECT_TRUE(jobs_->ListJobs(Ctx().get(), request, &response).ok());
    token_ = saved;
    return response.jobs_size();
  }

  std::vector<Call> ReadCalls() {
    return {
        {"Discover", Role::kViewer,
         [this](const std::string& ns) {
           collector::DiscoverRequest r;
           r.set_namespace_(ns);
           collector::DiscoverResponse out;
           return repo_->Discover(Ctx().get(), r, &out);
         }},
        {"ListBackups", Role::kViewer,
         [this](const std::string& ns) {
           collector::ListBackupsRequest r;
           r.mutable_collection()->set_namespace_(ns);
           r.mutable_collection()->set_name("users");
           collector::ListBackupsResponse out;
           return repo_->ListBackups(Ctx().get(), r, &out);
         }},
        {"GetJob", Role::kViewer,
         [this](const std::string& ns) {
           collector::GetJobRequest r;
           r.set_job_id(jobs_by_ns_[ns]);
           collector::GetJobResponse out;
           return jobs_->GetJob(Ctx().get(), r, &out);
         }},
        {"ListJobs", Role::kViewer,
         [this](const std::string& ns) {
           collector::ListJobsRequest r;
           r.mutable_collection()->set_namespace_(ns);
           r.mutable_collection()->set_name("users");
           collector::ListJobsResponse out;
           return jobs_->ListJobs(Ctx().get(), r, &out);
         }},
        {"WatchJob", Role::kViewer,
         [this](const std::string& ns) {
           collector::WatchJobRequest r;
           r.set_job_id(jobs_by_ns_[ns]);
           auto ctx = Ctx();
           auto reader = jobs_->WatchJob(ctx.get(), r);
           collector::Job job;
           while (reader->Read(&job)) {
           }
           return reader->Finish();
         }},
    };
  }

  std::vector<Call> OperatorCalls() {
    return {
        {"CreateCollection", Role::kOperator,
         [this](const std::string& ns) {
           collector::CreateCollectionRequest r;
           r.mutable_collection()->set_namespace_(ns);
           r.mutable_collection()->set_name("new-" + std::to_string(++serial_));
           collector::CreateCollectionResponse out;
           return repo_->CreateCollection(Ctx().get(), r, &out);
         }},
        {"BackupCollection", Role::kOperator,
         [this](const std::string& ns) {
           collector::BackupCollectionRequest r;
           r.set_wait(false);
           r.mutable_collection()->set_namespace_(ns);
           r.mutable_collection()->set_name("users");
           collector::BackupCollectionResponse out;
           return repo_->BackupCollection(Ctx().get(), r, &out);
         }},
        {"VerifyBackup", Role::kOperator,
         [this](const std::string& ns) {
           collector::VerifyBackupRequest r;
           r.set_wait(false);
           r.set_backup_id(backups_[ns]);
           collector::VerifyBackupResponse out;
           return repo_->VerifyBackup(Ctx().get(), r, &out);
         }},
        {"CancelJob", Role::kOperator,
         [this](const std::string& ns) {
           collector::CancelJobRequest r;
           r.set_job_id(jobs_by_ns_[ns]);
           collector::CancelJobResponse out;
           return jobs_->CancelJob(Ctx().get(), r, &out);
         }},
    };
  }

  std::vector<Call> AdminCalls() {
    return {
        {"RestoreBackup", Role::kAdmin,
         [this](const std::string& ns) {
           collector::RestoreBackupRequest r;
           r.set_wait(false);
           r.set_backup_id(backups_[ns]);
           r.set_dest_namespace(ns);
           r.set_dest_name("restored-" + std::to_string(++serial_));
           collector::RestoreBackupResponse out;
           return repo_->RestoreBackup(Ctx().get(), r, &out);
         }},
        {"DeleteBackup", Role::kAdmin,
         [this](const std::string& ns) {
           // A fresh backup each time, so an allowed delete does not spoil the next case.
           std::string saved = std::exchange(token_, kRoot);
           auto backup = Backup(ns, "users");
           Watch(backup.job().job_id());
           token_ = saved;
           collector::DeleteBackupRequest r;
           r.set_backup_id(backup.backup().backup_id());
           collector::DeleteBackupResponse out;
           return repo_->DeleteBackup(Ctx().get(), r, &out);
         }},
    };
  }

  // Makes `call` as `caller` in `ns` and checks the outcome against the role table, and
  // that a refused call that would change something queued nothing.
  void CheckCall(const Call& call, const Caller& caller, const std::string& ns) {
    token_ = caller.token;
    int jobs_before = call.needed == Role::kViewer ? 0 : JobCount();
    grpc::Status status = call.run(ns);
    Code expected = !caller.role                                  ? Code::UNAUTHENTICATED
                    : *caller.role >= call.needed && ns == "prod" ? Code::OK
                                                                  : Code::PERMISSION_DENIED;
    SCOPED_TRACE(std::string(call.name) + " by \"" + caller.token + "\" in " + ns);
    EXPECT_EQ(status.error_code(), expected) << status.error_message();
    if (expected == Code::PERMISSION_DENIED) {
      // The refusal names the role and namespace that would be needed.
      const std::string needed =
          "needs role " + std::string(ToString(call.needed)) + " on \"" + ns + "\"";
      EXPECT_NE(status.error_message().find(needed), std::string::npos) << status.error_message();
    }
    if (expected != Code::OK && call.needed != Role::kViewer) {
      // DeleteBackup's set-up adds one backup job of its own.
      int added = std::string(call.name) == "DeleteBackup" ? 1 : 0;
      EXPECT_EQ(JobCount(), jobs_before + added) << "a refused call queued a job";
    }
  }

  std::filesystem::path auth_file_;
  std::map<std::string, std::string> backups_;
  std::map<std::string, std::string> jobs_by_ns_;
  int serial_ = 0;
};

TEST_F(AuthTest, EveryRpcIsAllowedExactlyForItsRoleInsideItsNamespaces) {
  std::vector<Call> calls = ReadCalls();
  for (Call& c : OperatorCalls()) calls.push_back(std::move(c));
  for (Call& c : AdminCalls()) calls.push_back(std::move(c));
  const std::vector<Caller> callers = {{"", std::nullopt},
                                       {"not-a-token", std::nullopt},
                                       {kProdViewer, Role::kViewer},
                                       {kProdOperator, Role::kOperator},
                                       {kProdAdmin, Role::kAdmin}};
  for (const Call& call : calls) {
    for (const Caller& caller : callers) {
      CheckCall(call, caller, "prod");
      CheckCall(call, caller, "other");
    }
  }
}

TEST_F(AuthTest, RestoreNeedsTheRightOnTheBackupsNamespaceAndOnTheDestinations) {
  const int jobs_before = JobCount();
  const std::string before = CanonicalDump(layout().CollectionDb({"other", "users"}));
  token_ = kProdAdmin;
  for (auto [from, to] : {std::pair{"other", "prod"}, std::pair{"prod", "other"}}) {
    collector::RestoreBackupRequest r;
    r.set_wait(false);
    r.set_backup_id(backups_[from]);
    r.set_dest_namespace(to);
    r.set_dest_name("users");
    r.set_overwrite(true);
    collector::RestoreBackupResponse out;
    auto status = repo_->RestoreBackup(Ctx().get(), r, &out);
    EXPECT_EQ(status.error_code(), Code::PERMISSION_DENIED) << from << " -> " << to;
  }
  EXPECT_EQ(JobCount(), jobs_before) << "a refused restore queued a job";
  EXPECT_EQ(CanonicalDump(layout().CollectionDb({"other", "users"})), before);
}

TEST_F(AuthTest, ListingsShowOnlyTheCallersNamespaces) {
  token_ = kTeamViewer;
  collector::DiscoverResponse discovered;
  ASSERT_TRUE(repo_->Discover(Ctx().get(), {}, &discovered).ok());
  ASSERT_EQ(discovered.collections_size(), 1);
  EXPECT_EQ(discovered.collections(0).namespace_(), "team-a");

  collector::ListBackupsResponse backups;
  ASSERT_TRUE(repo_->ListBackups(Ctx().get(), {}, &backups).ok());
  ASSERT_EQ(backups.backups_size(), 1);
  EXPECT_EQ(backups.total_count(), 1);
  EXPECT_EQ(backups.backups(0).backup_id(), backups_["team-a"]);

  collector::ListJobsResponse jobs;
  ASSERT_TRUE(jobs_->ListJobs(Ctx().get(), {}, &jobs).ok());
  ASSERT_EQ(jobs.jobs_size(), 1);
  EXPECT_EQ(jobs.jobs(0).collection().namespace_(), "team-a");
}

TEST_F(AuthTest, JobsRecordWhoSubmittedThem) {
  token_ = kProdOperator;
  auto backup = Backup("prod", "users");
  EXPECT_EQ(GetJob(backup.job().job_id()).submitted_by(), "prod-operator");
  token_ = kRoot;
  EXPECT_EQ(GetJob(jobs_by_ns_["other"]).submitted_by(), "root");
}

TEST_F(AuthTest, ReloadSwapsTokensAndABadFileKeepsTheOldOnes) {
  const std::string fresh = "fresh-token";
  WriteAuthFile(auth_file_, {Entry("fresh", fresh, "viewer", R"("*")")});
  ASSERT_TRUE(server_->ReloadAuth());
  collector::DiscoverResponse out;
  token_ = kRoot;
  EXPECT_EQ(repo_->Discover(Ctx().get(), {}, &out).error_code(), Code::UNAUTHENTICATED);
  token_ = fresh;
  EXPECT_TRUE(repo_->Discover(Ctx().get(), {}, &out).ok());

  std::ofstream(auth_file_) << R"({"tokens": [{"name": "x", "sha256": "zz", "role": "admin"}]})";
  auto reloaded = server_->ReloadAuth();
  ASSERT_FALSE(reloaded);
  EXPECT_NE(reloaded.error().message().find("sha256"), std::string::npos)
      << reloaded.error().message();
  EXPECT_TRUE(repo_->Discover(Ctx().get(), {}, &out).ok()) << "the old table stays in force";
}

// Captures the log: the default logger is swapped for one that also writes to `sink_`
// before the server starts and swapped back after it stops. spdlog reads the default logger
// without a lock, so it must not change while threads log through it.
class AuditTest : public AuthTest {
 protected:
  void SetUp() override {
    previous_ = spdlog::default_logger();
    std::vector<spdlog::sink_ptr> sinks = previous_->sinks();
    sinks.push_back(sink_);
    auto capturing = std::make_shared<spdlog::logger>("audit-capture", sinks.begin(), sinks.end());
    capturing->set_level(previous_->level());
    spdlog::set_default_logger(capturing);
    AuthTest::SetUp();
  }
  void TearDown() override {
    AuthTest::TearDown();
    spdlog::set_default_logger(previous_);
  }

  // The audit lines logged since `from` lines into the capture.
  std::vector<std::string> AuditLinesSince(size_t from) const {
    std::vector<std::string> audit;
    const auto lines = sink_->last_formatted();
    for (size_t i = from; i < lines.size(); ++i) {
      if (lines[i].find("audit call=") != std::string::npos) audit.push_back(lines[i]);
    }
    return audit;
  }
  size_t CapturedLines() const { return sink_->last_formatted().size(); }

  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_ =
      std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(AuditTest, ChangesAreAuditedOneLineEachAndRequestsCannotForgeALine) {
  const size_t from = CapturedLines();
  ASSERT_LT(from, 900u) << "the capture must hold every line the test logs";
  token_ = kProdViewer;
  collector::DeleteBackupRequest del;
  del.set_backup_id(backups_["prod"]);
  collector::DeleteBackupResponse deleted;
  EXPECT_EQ(repo_->DeleteBackup(Ctx().get(), del, &deleted).error_code(), Code::PERMISSION_DENIED);
  token_ = "";
  collector::CancelJobRequest cancel;
  cancel.set_job_id("job-1\naudit call=DeleteBackup principal=\"root\" outcome=OK");
  collector::CancelJobResponse cancelled;
  EXPECT_EQ(jobs_->CancelJob(Ctx().get(), cancel, &cancelled).error_code(), Code::UNAUTHENTICATED);

  const std::vector<std::string> audit = AuditLinesSince(from);
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_NE(audit[0].find("call=DeleteBackup principal=\"prod-viewer\" peer=ipv4:127.0.0.1:"),
            std::string::npos)
      << audit[0];
  EXPECT_NE(audit[0].find("backup=" + backups_["prod"]), std::string::npos) << audit[0];
  EXPECT_NE(audit[0].find("outcome=PERMISSION_DENIED"), std::string::npos) << audit[0];
  EXPECT_NE(audit[1].find("call=CancelJob principal=\"-\""), std::string::npos) << audit[1];
  EXPECT_NE(
      audit[1].find("job=job-1\\x0aaudit\\x20call\\x3dDeleteBackup\\x20principal\\x3d\\x22root"),
      std::string::npos)
      << audit[1];
  EXPECT_NE(audit[1].find("outcome=UNAUTHENTICATED"), std::string::npos) << audit[1];
}

TEST(TokenTable, RefusesMalformedEntriesAsAWhole) {
  const std::string good = Entry("a", "t", "viewer", R"("prod")");
  EXPECT_TRUE(TokenTable::Parse(TokensJson({good}), "test"));
  for (const std::string& bad :
       {Entry("a", "t", "root", R"("prod")"), Entry("a", "t", "viewer", ""),
        Entry("a", "t", "viewer", R"("Prod")"), Entry("a", "t", "viewer", R"("[a-z]")"),
        Entry("", "t", "viewer", R"("prod")"),
        std::string(R"({"name": "a", "sha256": "00", "role": "viewer", "namespaces": ["p"]})"),
        std::string(R"({"name": "a", "token": "t", "role": "viewer", "namespaces": ["p"]})")}) {
    EXPECT_FALSE(TokenTable::Parse(TokensJson({good, bad}), "test")) << bad;
  }
}

TEST(TokenTable, FindsATokenByItsHashOnly) {
  auto table =
      TokenTable::Parse(R"({"tokens": [)" + Entry("a", "secret-a", "viewer", R"("prod")") + ", " +
                            Entry("b", "secret-b", "admin", R"("team-*", "ops")") + "]}",
                        "test");
  ASSERT_TRUE(table);
  ASSERT_NE(table->Find("secret-b"), nullptr);
  EXPECT_EQ(table->Find("secret-b")->name, "b");
  EXPECT_TRUE(table->Find("secret-b")->scope.Contains("team-x"));
  EXPECT_FALSE(table->Find("secret-b")->scope.Contains("prod"));
  EXPECT_EQ(table->Find("secret-"), nullptr);
  EXPECT_EQ(table->Find(Sha256Hex("secret-a")), nullptr) << "the hash is not a token";
}

}  // namespace
}  // namespace backup::testing
