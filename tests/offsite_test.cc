// Backups in S3 (a real s3rver behind a SigV4-checking front), compressed and encrypted,
// end to end through backupd: backup, restore, verify (full and quick), delete; tampered,
// truncated and missing archives; keys missing and rotated; a store that is down.
#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "common/sha256.h"
#include "common/test_point.h"
#include "storage/s3/s3_store.h"
#include "tests/s3_server.h"
#include "tests/server_fixture.h"

namespace backup::testing {
namespace {
namespace fs = std::filesystem;

fs::path WriteKey(const fs::path& path, const std::string& hex64) {
  std::ofstream(path) << hex64 << "\n";
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  return path;
}

class OffsiteTest : public ServerTest {
 protected:
  void SetUp() override {
    std::ofstream(dir_.path() / "credentials")
        << "[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n";
    key_ = WriteKey(dir_.path() / "backup.key", std::string(64, 'a'));
    Configure(s3_.Url("team") + "&part_size_mb=5", key_);
    StartServer(2);
  }

  void Configure(const std::string& url, const std::optional<fs::path>& key,
                 std::vector<fs::path> old_keys = {}) {
    options_.host.stores.stores = {"offsite=" + url};
    options_.host.stores.credentials_file = dir_.path() / "credentials";
    options_.host.stores.compression = "zstd:3";
    options_.host.stores.key_file = key;
    options_.host.stores.old_key_files = std::move(old_keys);
  }

  collector::BackupCollectionResponse BackupTo(const std::string& store, bool files = true) {
    return BackupAndWait("prod", "users", store, files);
  }

  // A backup submitted with wait: false and followed to its end: the job as it ended.
  collector::Job FollowedBackupTo(const std::string& store) {
    collector::BackupCollectionRequest request;
    request.mutable_collection()->set_namespace_("prod");
    request.mutable_collection()->set_name("users");
    request.set_store(store);
    request.set_wait(false);
    collector::BackupCollectionResponse response;
    auto status = repo_->BackupCollection(Ctx().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return Watch(response.job().job_id()).back();
  }

  grpc::Status Restore(const std::string& id, const std::string& name,
                       collector::RestoreBackupResponse* response) {
    return RestoreAndWait(id, "prod", name, response);
  }
  collector::VerifyBackupResponse Verify(const std::string& id, bool quick) {
    return VerifyAndWait(id, quick);
  }

  // The archive's file in s3rver's folder.
  fs::path ObjectFileOf(const collector::BackupMetadata& b) const {
    const std::string prefix = "s3://test-bucket/";
    return s3_.ObjectFile(b.storage_path().substr(prefix.size()));
  }

  S3Server s3_;
  fs::path key_;
};

TEST_F(OffsiteTest, AnEncryptedBackupInS3RestoresAndVerifies) {
  CreateCollection("prod", "users", 3000, 12);
  const fs::path files = layout().CollectionFilesDir({"prod", "users"});
  WriteFiles(files / "big", 3, 4 << 20);  // a multipart upload of several 5 MiB parts
  auto r = BackupTo("offsite");
  ASSERT_EQ(r.job().state(), collector::SUCCEEDED) << r.job().error().message();
  const auto& b = r.backup();
  EXPECT_EQ(b.storage_type(), "s3");
  EXPECT_EQ(b.store(), "offsite");
  EXPECT_EQ(b.compression(), "zstd");
  EXPECT_EQ(b.key_id().size(), 16u);
  EXPECT_TRUE(b.storage_path().starts_with("s3://test-bucket/team/backups/prod/users/" +
                                           b.backup_id() + ".tar.zst.sealed"))
      << b.storage_path();
  EXPECT_EQ(static_cast<int64_t>(fs::file_size(ObjectFileOf(b))), b.stored_bytes());
  const std::string stored = ReadFile(ObjectFileOf(b));
  EXPECT_TRUE(stored.starts_with("CBKSEAL1" + b.key_id()));
  EXPECT_EQ(stored.find("SQLite format 3"), std::string::npos) << "sealed bytes are opaque";

  collector::RestoreBackupResponse restored;
  auto status = Restore(b.backup_id(), "copy", &restored);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(restored.status().code(), collector::Status::OK) << restored.status().message();
  EXPECT_EQ(CanonicalDump(layout().CollectionDb({"prod", "copy"})),
            CanonicalDump(layout().CollectionDb({"prod", "users"})));
  EXPECT_EQ(FileTree(layout().CollectionFilesDir({"prod", "copy"})), FileTree(files));
  auto full = Verify(b.backup_id(), false);
  EXPECT_TRUE(full.is_valid()) << full.error_message();
  auto quick = Verify(b.backup_id(), true);
  EXPECT_TRUE(quick.is_valid()) << quick.error_message();

  collector::DeleteBackupRequest del;
  del.set_backup_id(b.backup_id());
  collector::DeleteBackupResponse deleted;
  ASSERT_TRUE(repo_->DeleteBackup(Ctx().get(), del, &deleted).ok());
  EXPECT_EQ(deleted.bytes_freed(), b.stored_bytes());
  EXPECT_FALSE(fs::exists(ObjectFileOf(b)));
  S3Store store(s3_.Config());
  EXPECT_TRUE(store.ListIncompleteUploads().value().empty());
}

TEST_F(OffsiteTest, ATamperedOrTruncatedArchiveIsDataLossAndTouchesNothing) {
  CreateCollection("prod", "users", 2000, 3);
  auto b = BackupTo("offsite").backup();
  const fs::path object = ObjectFileOf(b);
  {
    std::fstream f(object, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(object) / 2));
    f.put('\x42');
  }
  collector::RestoreBackupResponse restored;
  auto status = Restore(b.backup_id(), "copy", &restored);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DATA_LOSS) << status.error_message();
  EXPECT_NE(status.error_message().find("does not authenticate"), std::string::npos)
      << status.error_message();
  EXPECT_FALSE(fs::exists(layout().CollectionDb({"prod", "copy"})));
  EXPECT_FALSE(fs::exists(layout().CollectionDb({"prod", "copy"}).parent_path()));
  auto full = Verify(b.backup_id(), false);
  EXPECT_FALSE(full.is_valid());
  EXPECT_NE(full.error_message().find("does not authenticate"), std::string::npos)
      << full.error_message();

  fs::resize_file(object, fs::file_size(object) - 100);
  auto quick = Verify(b.backup_id(), true);
  EXPECT_FALSE(quick.is_valid());
  EXPECT_NE(quick.error_message().find("bytes, expected"), std::string::npos)
      << quick.error_message();
  full = Verify(b.backup_id(), false);
  EXPECT_FALSE(full.is_valid()) << "a truncated archive";

  fs::remove(object);
  quick = Verify(b.backup_id(), true);
  EXPECT_NE(quick.error_message().find("is missing"), std::string::npos) << quick.error_message();
  full = Verify(b.backup_id(), false);
  EXPECT_NE(full.error_message().find("is missing"), std::string::npos) << full.error_message();
}

TEST_F(OffsiteTest, AMissingKeyIsNamedAndAnOldKeyStillOpensOldBackups) {
  CreateCollection("prod", "users", 500, 2);
  auto old = BackupTo("offsite").backup();
  StopServer();
  const fs::path new_key = WriteKey(dir_.path() / "new.key", std::string(64, 'b'));
  Configure(s3_.Url("team"), new_key);
  StartServer(2);
  collector::RestoreBackupResponse restored;
  auto status = Restore(old.backup_id(), "copy", &restored);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_NE(status.error_message().find("encrypted with key " + old.key_id()), std::string::npos)
      << status.error_message();
  auto fresh = BackupTo("offsite").backup();
  EXPECT_NE(fresh.key_id(), old.key_id());

  StopServer();
  Configure(s3_.Url("team"), new_key, {key_});
  StartServer(2);
  status = Restore(old.backup_id(), "copy", &restored);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(CanonicalDump(layout().CollectionDb({"prod", "copy"})),
            CanonicalDump(layout().CollectionDb({"prod", "users"})));
  EXPECT_TRUE(Verify(fresh.backup_id(), false).is_valid());
}

TEST_F(OffsiteTest, AnUnknownStoreAndAPlainDestPathUnderEncryptionAreRefused) {
  CreateCollection("prod", "users", 10);
  collector::BackupCollectionRequest request;
  request.mutable_collection()->set_namespace_("prod");
  request.mutable_collection()->set_name("users");
  request.set_store("nowhere");
  collector::BackupCollectionResponse response;
  auto status = repo_->BackupCollection(Ctx().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("configured: local, offsite"), std::string::npos)
      << status.error_message();
  request.set_store("");
  request.set_dest_path((layout().BackupsRoot() / "plain.db").string());
  status = repo_->BackupCollection(Ctx().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("encrypts backups"), std::string::npos);
  EXPECT_TRUE(server_->store().ListJobs({})->jobs.empty());
}

TEST_F(OffsiteTest, AMissingBucketOrAWrongSecretStopsTheStartWithTheStoreNamed) {
  StopServer();
  Configure(s3_.Url("team").replace(5, 11, "missing-bucket"), key_);
  auto server = BackupServer::Start(options_);
  ASSERT_FALSE(server);
  EXPECT_NE(server.error().message().find("\"offsite\""), std::string::npos)
      << server.error().message();
  EXPECT_NE(server.error().message().find("\"missing-bucket\" does not exist"), std::string::npos)
      << server.error().message();

  std::ofstream(dir_.path() / "credentials")
      << "[default]\naws_access_key_id = S3RVER\naws_secret_access_key = wrong\n";
  Configure(s3_.Url("team"), key_);
  server = BackupServer::Start(options_);
  ASSERT_FALSE(server);
  EXPECT_EQ(server.error().code(), Code::kPermissionDenied) << server.error().message();
  EXPECT_NE(server.error().message().find("credentials"), std::string::npos);
  EXPECT_EQ(server.error().message().find("wrong"), std::string::npos) << "no secret in a message";
  s3_.ForgetRefusals();
}

// After start-up: access refused, then the bucket gone. Each job fails on its first
// attempt with a message that says what to fix; nothing is retried for nothing.
TEST_F(OffsiteTest, AccessRefusedOrTheBucketGoneAfterStartUpFailsTheJobAtOnce) {
  CreateCollection("prod", "users", 100, 1);
  s3_.SetFault("deny");
  collector::Job denied = FollowedBackupTo("offsite");
  EXPECT_EQ(denied.state(), collector::FAILED);
  EXPECT_EQ(denied.attempt(), 1) << "not retried";
  EXPECT_EQ(denied.error().code(), collector::Status::PERMISSION_DENIED);
  EXPECT_NE(denied.error().message().find("check the store's credentials"), std::string::npos)
      << denied.error().message();
  s3_.SetFault("ok");
  fs::remove_all(s3_.ObjectFile("x").parent_path());  // s3rver's folder of the bucket
  collector::Job gone = FollowedBackupTo("offsite");
  EXPECT_EQ(gone.state(), collector::FAILED);
  EXPECT_EQ(gone.attempt(), 1) << "not retried";
  EXPECT_NE(gone.error().message().find("bucket \"test-bucket\" does not exist"), std::string::npos)
      << gone.error().message();
}

TEST_F(OffsiteTest, TheStoreKilledMidBackupAndStartedAgainStillGivesOneBackup) {
  CreateCollection("prod", "users", 2000, 0);
  WriteFiles(layout().CollectionFilesDir({"prod", "users"}), 4, 4 << 20);
  std::mutex mu;  // the hook runs on a worker thread
  std::thread restart;
  SetTestPointHook([&](std::string_view point) {
    std::lock_guard lock(mu);
    if (point != "backup: files listed, copy starts" || restart.joinable()) return;
    s3_.Kill();
    restart = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::seconds(3));
      s3_.Start();
    });
  });
  auto r = BackupTo("offsite");
  SetTestPointHook({});
  {
    std::lock_guard lock(mu);
    ASSERT_TRUE(restart.joinable()) << "the store was never killed";
    restart.join();
  }
  ASSERT_EQ(r.job().state(), collector::SUCCEEDED) << r.job().error().message();
  EXPECT_TRUE(Verify(r.backup().backup_id(), false).is_valid());
  S3Store store(s3_.Config());
  EXPECT_TRUE(store.ListIncompleteUploads().value().empty());
  auto listed = store.List("team/backups/");
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->size(), 1u) << "one archive, whatever the retries";
}

}  // namespace
}  // namespace backup::testing
