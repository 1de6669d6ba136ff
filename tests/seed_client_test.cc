// A client generated from the Collector Backup API's own messages (tests/seed/, no `wait`,
// no Job) against a real backupd process: every call answers with the seed's meaning,
// synchronously, with every field filled from the finished job; a pending backup is never
// reported invalid; a deadline that comes first is DEADLINE_EXCEEDED naming the job, and
// the job goes on. Collections are created with backupctl, a new-style client, in the same
// run (this binary cannot link our own protos: they share the package name).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <thread>

#include "seed/seed_backup.grpc.pb.h"
#include "tests/process.h"
#include "tests/test_util.h"

namespace backup::testing {
namespace {
namespace fs = std::filesystem;

constexpr int kRecords = 3'000;
constexpr int kFiles = 12;

std::unique_ptr<grpc::ClientContext> Ctx(int ms = 60'000) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
  return c;
}

class SeedClientTest : public ::testing::Test {
 protected:
  void StartBackupd(int workers) {
    backupd_.reset();  // SIGKILLs (and reaps) a previous one
    backupd_ = std::make_unique<BackupdProcess>(data_, workers);
    auto channel = grpc::CreateChannel(backupd_->address(), grpc::InsecureChannelCredentials());
    repo_ = collector::CollectionRepo::NewStub(channel);
  }

  // Creates ns/name with backupctl and fills it with records and files.
  void CreateCollection(const std::string& ns, const std::string& name) {
    const std::string command = std::string(BACKUPCTL_PATH) + " --server " + backupd_->address() +
                                " collections create " + ns + "/" + name + " >/dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    FillRecords(data_ / "collections" / ns / name / "collection.db", kRecords, 200);
    WriteFiles(data_ / "files" / ns / name, kFiles, 1'000);
  }

  collector::BackupCollectionResponse Backup(const std::string& ns, const std::string& name,
                                             grpc::Status& status, int deadline_ms = 60'000) {
    collector::BackupCollectionRequest request;
    request.mutable_collection()->set_namespace_(ns);
    request.mutable_collection()->set_name(name);
    request.set_include_files(true);
    (*request.mutable_metadata())["note"] = "seed";
    collector::BackupCollectionResponse response;
    status = repo_->BackupCollection(Ctx(deadline_ms).get(), request, &response);
    return response;
  }

  collector::ListBackupsResponse List(const std::string& ns, const std::string& name) {
    collector::ListBackupsRequest request;
    request.mutable_collection()->set_namespace_(ns);
    request.mutable_collection()->set_name(name);
    collector::ListBackupsResponse response;
    EXPECT_TRUE(repo_->ListBackups(Ctx().get(), request, &response).ok());
    return response;
  }

  // Whether `count` jobs are QUEUED within five seconds (asked with backupctl).
  bool WaitForQueuedJobs(int count) {
    const std::string command = std::string(BACKUPCTL_PATH) + " --server " + backupd_->address() +
                                " jobs list --state QUEUED";
    for (int i = 0; i < 100; ++i) {
      FILE* out = ::popen(command.c_str(), "r");
      int jobs = 0;
      for (char line[512]; out != nullptr && std::fgets(line, sizeof line, out) != nullptr;) {
        if (std::string_view(line).substr(0, 4) == "job-") ++jobs;
      }
      if (out != nullptr) ::pclose(out);
      if (jobs >= count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  // The id of the backup of ns/name that ListBackups shows first (the newest), once one is
  // listed, or "" after five seconds.
  std::string WaitForListedBackup(const std::string& ns, const std::string& name) {
    for (int i = 0; i < 500; ++i) {
      auto listed = List(ns, name);
      if (listed.backups_size() > 0) return listed.backups(0).backup_id();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return "";
  }

  TempDir dir_;
  const fs::path data_ = dir_.path() / "data";
  std::unique_ptr<BackupdProcess> backupd_;
  std::unique_ptr<collector::CollectionRepo::Stub> repo_;
};

TEST_F(SeedClientTest, EveryCallAnswersWithTheSeedsFieldsOnceItsJobHasEnded) {
  StartBackupd(2);
  ASSERT_NO_FATAL_FAILURE(CreateCollection("seed", "users"));
  grpc::Status status;
  auto backup = Backup("seed", "users", status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(backup.status().code(), collector::Status::OK);
  const auto& b = backup.backup();
  EXPECT_EQ(b.backup_id().rfind("backup-", 0), 0u) << b.backup_id();
  EXPECT_EQ(b.collection().namespace_(), "seed");
  EXPECT_EQ(b.record_count(), kRecords);
  EXPECT_EQ(b.file_count(), kFiles);
  EXPECT_TRUE(b.includes_files());
  EXPECT_GT(b.size_bytes(), kRecords * 200);
  EXPECT_EQ(backup.bytes_transferred(), b.size_bytes());
  EXPECT_EQ(b.storage_type(), "local");
  EXPECT_TRUE(fs::exists(b.storage_path()));
  EXPECT_EQ(b.metadata().at("note"), "seed");

  auto listed = List("seed", "users");
  EXPECT_EQ(listed.status().code(), collector::Status::OK);
  ASSERT_EQ(listed.total_count(), 1);
  EXPECT_EQ(listed.backups(0).backup_id(), b.backup_id());
  EXPECT_EQ(listed.backups(0).record_count(), kRecords);

  collector::DeleteBackupRequest del;
  del.set_backup_id(b.backup_id());
  collector::DeleteBackupResponse deleted;
  ASSERT_TRUE(repo_->DeleteBackup(Ctx().get(), del, &deleted).ok());
  EXPECT_EQ(deleted.status().code(), collector::Status::OK);
  EXPECT_GT(deleted.bytes_freed(), 0);  // the archive, compressed: less than size_bytes
  EXPECT_EQ(List("seed", "users").total_count(), 0);
}

// The backup's job cannot run until a backup-worker starts, so the verify and the restore
// are certainly sent while it is PENDING; they are accepted, wait behind it, and answer
// with the verdict and the restore once it has completed.
TEST_F(SeedClientTest, VerifyAndRestoreSentWhileTheBackupIsPendingWaitForIt) {
  StartBackupd(0);
  ASSERT_NO_FATAL_FAILURE(CreateCollection("seed", "users"));
  grpc::Status backup_status;
  auto backup =
      std::async(std::launch::async, [&] { return Backup("seed", "users", backup_status); });
  const std::string id = WaitForListedBackup("seed", "users");
  ASSERT_FALSE(id.empty()) << "the backup was never listed";
  auto verify = std::async(std::launch::async, [&] {
    collector::VerifyBackupRequest request;
    request.set_backup_id(id);
    collector::VerifyBackupResponse response;
    auto s = repo_->VerifyBackup(Ctx().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  });
  auto restore = std::async(std::launch::async, [&] {
    collector::RestoreBackupRequest request;
    request.set_backup_id(id);
    request.set_dest_namespace("seed");
    request.set_dest_name("users-restored");
    collector::RestoreBackupResponse response;
    auto s = repo_->RestoreBackup(Ctx().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  });
  ASSERT_TRUE(WaitForQueuedJobs(3)) << "the verify and the restore were not queued";
  Process worker({BACKUP_WORKER_PATH, "--data-dir", data_.string(), "--workers", "2"},
                 data_.string() + ".worker.log");

  auto restored = restore.get();
  EXPECT_EQ(restored.status().code(), collector::Status::OK);
  EXPECT_EQ(restored.collection_id(), "seed/users-restored");
  EXPECT_EQ(restored.records_restored(), kRecords);
  EXPECT_EQ(restored.files_restored(), kFiles);
  EXPECT_EQ(CanonicalDump(data_ / "collections/seed/users-restored/collection.db"),
            CanonicalDump(data_ / "collections/seed/users/collection.db"));

  auto verdict = verify.get();
  EXPECT_EQ(verdict.status().code(), collector::Status::OK);
  EXPECT_TRUE(verdict.is_valid()) << verdict.error_message();
  EXPECT_EQ(verdict.error_message(), "");
  EXPECT_EQ(verdict.backup().backup_id(), id);
  EXPECT_EQ(verdict.backup().record_count(), kRecords);
  EXPECT_EQ(backup.get().backup().backup_id(), id);
  EXPECT_TRUE(backup_status.ok()) << backup_status.error_message();
}

TEST_F(SeedClientTest, ADeadlineBeforeTheJobEndsIsDeadlineExceededAndTheJobGoesOn) {
  StartBackupd(0);  // nothing runs jobs yet: the backup cannot end before the deadline
  ASSERT_NO_FATAL_FAILURE(CreateCollection("seed", "users"));
  grpc::Status status;
  auto answer = Backup("seed", "users", status, /*deadline_ms=*/1'500);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_NE(status.error_message().find("job-"), std::string::npos) << status.error_message();
  EXPECT_NE(status.error_message().find("WatchJob"), std::string::npos) << status.error_message();
  EXPECT_EQ(answer.backup().backup_id(), "");  // never an OK carrying default values

  StartBackupd(2);  // a server with workers finishes the queued job
  for (int i = 0; i < 500; ++i) {
    auto listed = List("seed", "users");
    if (listed.backups_size() == 1 && listed.backups(0).record_count() == kRecords) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL() << "the backup never completed after the deadline";
}

}  // namespace
}  // namespace backup::testing
