// Restore, verify and delete against a real server with real files.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <tuple>

#include <google/protobuf/util/json_util.h>

#include "archive_manifest.pb.h"
#include "common/backup_paths.h"
#include "common/fs.h"
#include "tests/server_fixture.h"

namespace backup::testing {
namespace {
namespace fs = std::filesystem;

class RestoreTest : public ServerTest {
 protected:
  // Backs up prod/users (made with `records` rows and `files` files) and waits for it.
  // A backup in the default store (the archive format), or with `plain`, a plain-format
  // one (a database file and a files folder at a dest_path).
  collector::BackupMetadata MakeBackup(int records = 2000, int files = 20, bool plain = false) {
    CreateCollection("prod", "users", records, files);
    auto r = Backup("prod", "users", files > 0,
                    plain ? (layout().BackupsRoot() / "plain" / "b.db").string() : "");
    auto seen = Watch(r.job().job_id());
    EXPECT_EQ(seen.back().state(), collector::SUCCEEDED);
    return seen.back().backup_result().backup();
  }

  grpc::Status Restore(const std::string& id, const std::string& ns, const std::string& name,
                       bool overwrite, collector::RestoreBackupResponse* response) {
    collector::RestoreBackupRequest request;
    request.set_backup_id(id);
    request.set_dest_namespace(ns);
    request.set_dest_name(name);
    request.set_overwrite(overwrite);
    request.set_wait(true);
    return repo_->RestoreBackup(Ctx(60).get(), request, response);
  }

  collector::VerifyBackupResponse Verify(const std::string& id) { return VerifyAndWait(id, false); }
};

TEST_F(RestoreTest, RoundTripRestoresEveryRowAndFileAsAtBackupTime) {
  auto b = MakeBackup();
  const auto db = layout().CollectionDb({"prod", "users"});
  const std::string dump_at_backup = CanonicalDump(db);
  const auto files_at_backup = FileTree(layout().CollectionFilesDir({"prod", "users"}));
  FillRecords(db, 10, 100, 100'000);  // changes after the backup must not show up in the restore
  WriteFiles(layout().CollectionFilesDir({"prod", "users"}), 25, 10);

  collector::RestoreBackupResponse response;
  auto status = Restore(b.backup_id(), "prod", "users-restored", false, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status().code(), collector::Status::OK);
  EXPECT_EQ(response.collection_id(), "prod/users-restored");
  EXPECT_EQ(response.records_restored(), 2000);
  EXPECT_EQ(response.files_restored(), 20);
  EXPECT_EQ(response.job().state(), collector::SUCCEEDED);

  const auto restored = layout().CollectionDb({"prod", "users-restored"});
  EXPECT_EQ(IntegrityCheck(restored), "ok");
  EXPECT_EQ(CanonicalDump(restored), dump_at_backup);
  EXPECT_EQ(FileTree(layout().CollectionFilesDir({"prod", "users-restored"})), files_at_backup);

  collector::DiscoverRequest discover;
  discover.set_namespace_("prod");
  collector::DiscoverResponse found;
  ASSERT_TRUE(repo_->Discover(Ctx().get(), discover, &found).ok());
  ASSERT_EQ(found.collections_size(), 2);
  const auto& labels = found.collections(1).metadata().labels();
  EXPECT_EQ(found.collections(1).name(), "users-restored");
  EXPECT_EQ(labels.at("restored_from_backup"), b.backup_id());
  EXPECT_EQ(labels.at("original_collection"), "prod/users");
  EXPECT_EQ(labels.at("backup_timestamp"), std::to_string(b.timestamp()));
  // No temporary names are left beside the destination.
  for (const auto& entry : fs::directory_iterator(restored.parent_path())) {
    EXPECT_EQ(entry.path().filename().string().find("restoring"), std::string::npos)
        << entry.path();
  }
}

TEST_F(RestoreTest, OverwriteOfALiveCollectionWithUncheckpointedWalYieldsTheBackup) {
  auto b = MakeBackup(1000, 0);
  const auto db = layout().CollectionDb({"prod", "users"});
  const std::string dump_at_backup = CanonicalDump(db);
  // An application keeps the collection open, with changes only in its -wal.
  auto app = sql::Database::Open(db.string(), {});
  ASSERT_TRUE(app);
  ASSERT_TRUE(
      app->Exec("PRAGMA wal_autocheckpoint=0; DELETE FROM records WHERE id < 'r000500';"
                "INSERT INTO records (id) VALUES ('only-in-wal');"));
  ASSERT_GT(fs::file_size(db.string() + "-wal"), 0u);
  ASSERT_EQ(*app->QueryInt("SELECT count(*) FROM records"), 501);

  collector::RestoreBackupResponse response;
  auto status = Restore(b.backup_id(), "prod", "users", true, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.records_restored(), 1000);
  // The application's own connection sees the restored database, consistently.
  EXPECT_EQ(*app->QueryInt("SELECT count(*) FROM records"), 1000);
  EXPECT_EQ(*app->QueryInt("SELECT count(*) FROM records WHERE id = 'only-in-wal'"), 0);
  app = Fail(Error::Internal("closed"));
  EXPECT_EQ(IntegrityCheck(db), "ok");
  EXPECT_EQ(CanonicalDump(db), dump_at_backup);
}

TEST_F(RestoreTest, OverwriteFalseLeavesExistingCollectionUntouched) {
  auto b = MakeBackup(100, 3);
  const auto db = layout().CollectionDb({"prod", "users"});
  FillRecords(db, 5, 100, 100'000);
  const std::string before = ReadFile(db);
  const auto files_before = FileTree(layout().CollectionFilesDir({"prod", "users"}));
  collector::RestoreBackupResponse response;
  auto status = Restore(b.backup_id(), "prod", "users", false, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_NE(status.error_message().find("collection prod/users already exists"), std::string::npos);
  EXPECT_EQ(ReadFile(db), before);
  EXPECT_EQ(FileTree(layout().CollectionFilesDir({"prod", "users"})), files_before);
  EXPECT_TRUE(server_->store().ListJobs({.kind = JobKind::kRestore})->jobs.empty());
}

// Past its intent, a restore whose swap keeps failing (an application holds the
// destination's write lock) stops at max_attempts, FAILED with its reason, and the
// destination is the old collection: its database, its files, its registry row, and no
// temporary copy beside them. Once the lock is gone the same restore succeeds.
TEST_F(RestoreTest, PastItsIntentAFailingSwapStopsAtMaxAttemptsAndKeepsTheOldCollection) {
  StopServer();
  options_.default_max_attempts = 2;
  options_.host.restore_lock_wait_ms = 200;
  options_.host.pool.retry_base_ms = 50;
  StartServer(2);
  auto b = MakeBackup(100, 3);
  const auto db = layout().CollectionDb({"prod", "users"});
  const auto files = layout().CollectionFilesDir({"prod", "users"});
  FillRecords(db, 5, 100, 100'000);  // the collection moves on after the backup
  WriteFiles(files, 5, 2048);
  const std::string dump_before = CanonicalDump(db);
  const auto files_before = FileTree(files);
  auto app = sql::Database::Open(db.string(), {});
  ASSERT_TRUE(app);
  ASSERT_TRUE(app->Exec("BEGIN IMMEDIATE"));  // the write lock, held throughout

  collector::RestoreBackupResponse response;
  auto status = Restore(b.backup_id(), "prod", "users", true, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_NE(status.error_message().find("gave up after 2 attempts; the destination keeps its "
                                        "old collection"),
            std::string::npos)
      << status.error_message();
  auto restores = server_->store().ListJobs({.kind = JobKind::kRestore});
  ASSERT_TRUE(restores);
  ASSERT_EQ(restores->jobs.size(), 1u);
  const Job& job = restores->jobs[0];
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_EQ(job.attempt, 2);
  EXPECT_FALSE(*server_->store().HasRestoreIntent(job.id));

  ASSERT_TRUE(app->Exec("ROLLBACK"));
  app = Fail(Error::Internal("closed"));
  EXPECT_EQ(CanonicalDump(db), dump_before);
  EXPECT_EQ(FileTree(files), files_before);
  for (const fs::path& folder : {db.parent_path(), files.parent_path()}) {
    for (const auto& e : fs::directory_iterator(folder)) {
      const std::string name = e.path().filename().string();
      EXPECT_EQ(name.find(".restoring-"), std::string::npos) << e.path();
      EXPECT_EQ(name.find(".old-"), std::string::npos) << e.path();
    }
  }
  auto registered = server_->store().GetCollection({"prod", "users"});
  ASSERT_TRUE(registered);
  EXPECT_EQ(registered->labels.count("restored_from_backup"), 0u);

  status = Restore(b.backup_id(), "prod", "users", true, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.records_restored(), 100);
  EXPECT_EQ(server_->store().GetCollection({"prod", "users"})->labels.at("restored_from_backup"),
            b.backup_id());
}

TEST_F(RestoreTest, CorruptPlainBackupFailsWithDataLossAndTouchesNothing) {
  auto b = MakeBackup(500, 0, /*plain=*/true);
  {
    std::fstream f(b.storage_path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 + 200);
    f.put('\x5a');
  }
  collector::RestoreBackupResponse response;
  auto status = Restore(b.backup_id(), "prod", "copy", false, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DATA_LOSS) << status.error_message();
  EXPECT_NE(status.error_message().find("SHA-256"), std::string::npos);
  EXPECT_FALSE(fs::exists(layout().CollectionDb({"prod", "copy"}).parent_path() / "collection.db"));
  for (const auto& entry : fs::recursive_directory_iterator(layout().root() / "collections")) {
    EXPECT_EQ(entry.path().string().find("restoring"), std::string::npos) << entry.path();
  }
}

struct Corruption {
  std::string name;
  std::function<void(const collector::BackupMetadata&, const fs::path& control_db)> apply;
  std::string expect;
};

TEST_F(RestoreTest, VerifyNamesEveryKindOfDamageToAPlainBackup) {
  CreateCollection("prod", "users", 3000, 5);
  auto flip = [](const fs::path& p, std::streamoff at) {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(at);
    char c = static_cast<char>(f.get());
    f.seekp(at);
    f.put(static_cast<char>(c ^ 0x01));
  };
  auto first_file = [](const collector::BackupMetadata& b) {
    fs::path dir = BackupPaths(b.storage_path()).files();
    for (auto& e : fs::recursive_directory_iterator(dir)) {
      if (e.is_regular_file()) return e.path();
    }
    return fs::path();
  };
  const std::vector<Corruption> cases = {
      {"untouched", [](auto&, auto&) {}, ""},
      {"missing db", [](auto& b, auto&) { fs::remove(b.storage_path()); }, "is missing"},
      {"truncated db",
       [](auto& b, auto&) {
         fs::resize_file(b.storage_path(), fs::file_size(b.storage_path()) / 2);
       },
       "truncated"},
      {"flipped byte in a table page",
       [&](auto& b, auto&) { flip(b.storage_path(), 3 * 4096 + 1000); }, "SHA-256 differs"},
      {"wrong recorded checksum",
       [](auto& b, auto& control) {
         auto db = sql::Database::Open(control.string(), {});
         ASSERT_TRUE(
             db->Run("UPDATE backups SET sha256 = ?1 WHERE backup_id = ?2",
                     {std::string_view(std::string(64, '0')), std::string_view(b.backup_id())}));
       },
       "SHA-256 differs"},
      {"missing file", [&](auto& b, auto&) { fs::remove(first_file(b)); }, "is missing"},
      {"extra file",
       [](auto& b, auto&) {
         std::ofstream(BackupPaths(b.storage_path()).files() / "intruder.txt") << "x";
       },
       "unexpected file intruder.txt"},
      {"modified file", [&](auto& b, auto&) { flip(first_file(b), 10); }, "SHA-256 differs"},
      {"resized file",
       [&](auto& b, auto&) { std::ofstream(first_file(b), std::ios::app) << "more"; },
       "bytes, expected"},
  };
  int n = 0;
  for (const Corruption& c : cases) {
    auto r = Backup("prod", "users", true,
                    (layout().BackupsRoot() / "plain" / (std::to_string(n++) + ".db")).string());
    auto b = Watch(r.job().job_id()).back().backup_result().backup();
    c.apply(b, layout().ControlDb());
    auto v = Verify(b.backup_id());
    EXPECT_EQ(v.status().code(), collector::Status::OK) << c.name;
    EXPECT_EQ(v.is_valid(), c.expect.empty()) << c.name << ": " << v.error_message();
    if (!c.expect.empty()) {
      EXPECT_NE(v.error_message().find(c.expect), std::string::npos)
          << c.name << ": " << v.error_message();
    }
    EXPECT_GT(v.backup().last_verified_at(), 0) << c.name;
    auto listed = server_->store().GetBackup(b.backup_id());
    EXPECT_EQ(listed->last_verify_valid, c.expect.empty()) << c.name;
    EXPECT_EQ(listed->last_verify_error, v.error_message()) << c.name;
  }
}

// Repacks an unpacked archive with the system's tar (pax, zstd): the database, the files
// named, then MANIFEST.json unless `manifest` is false.
void Repack(const fs::path& unpacked, const std::vector<std::string>& files, bool manifest,
            const fs::path& archive) {
  std::string names = "database.sqlite";
  for (const std::string& f : files) names += " 'files/" + f + "'";
  if (manifest) names += " MANIFEST.json";
  const std::string command = "tar --format=pax --zstd -cf '" + archive.string() + "' -C '" +
                              unpacked.string() + "' " + names;
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

TEST_F(RestoreTest, AnArchiveCarriesItsManifestAndVerifyHoldsItToTheCatalogue) {
  const auto b = MakeBackup(500, 3);
  const fs::path unpacked = UnpackArchive(b.storage_path(), dir_.path() / "unpacked");
  collector::archive::ArchiveManifest m;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(ReadFile(unpacked / "MANIFEST.json"), &m).ok());
  EXPECT_EQ(m.format(), 1);
  EXPECT_EQ(m.backup_id(), b.backup_id());
  EXPECT_EQ(m.collection(), "prod/users");
  EXPECT_EQ(m.database().path(), "database.sqlite");
  EXPECT_EQ(m.database().sha256(), b.sha256());
  EXPECT_EQ(m.database().sha256(), HashFile(unpacked / "database.sqlite", nullptr)->sha256);
  auto catalogued = server_->store().GetManifest(b.backup_id());
  ASSERT_TRUE(catalogued);
  ASSERT_EQ(m.files_size(), 3);
  std::vector<std::string> files;
  for (int i = 0; i < m.files_size(); ++i) {
    const auto& f = m.files(i);
    files.push_back(f.path().substr(6));
    EXPECT_EQ(f.path(), "files/" + (*catalogued)[static_cast<size_t>(i)].path);
    EXPECT_EQ(f.sha256(), (*catalogued)[static_cast<size_t>(i)].sha256);
    EXPECT_EQ(f.sha256(), HashFile(unpacked / f.path(), nullptr)->sha256) << f.path();
  }

  // The same archive repacked by another tar is still this backup; one whose manifest lies
  // is not.
  const fs::path archive = b.storage_path();
  Repack(unpacked, files, true, archive);
  auto v = Verify(b.backup_id());
  EXPECT_TRUE(v.is_valid()) << v.error_message();

  const std::string json = ReadFile(unpacked / "MANIFEST.json");
  // Each lie in turn: another backup's id, a file's checksum.
  const std::string file_sha = (*catalogued)[1].sha256;
  const std::vector<std::tuple<std::string, std::string, std::string>> lies = {
      {b.backup_id(), "backup-0000000000000000", "differs from the catalogue: backup id"},
      {file_sha, std::string(64, '0'), "differs from the catalogue: file files/" + files[1]},
  };
  for (const auto& [truth, lie, expect] : lies) {
    std::string lying = json;
    ASSERT_NE(lying.find(truth), std::string::npos) << truth;
    lying.replace(lying.find(truth), truth.size(), lie);
    std::ofstream(unpacked / "MANIFEST.json", std::ios::trunc) << lying;
    Repack(unpacked, files, true, archive);
    v = Verify(b.backup_id());
    EXPECT_FALSE(v.is_valid()) << expect;
    EXPECT_NE(v.error_message().find("MANIFEST.json " + expect), std::string::npos)
        << v.error_message();
  }
  std::ofstream(unpacked / "MANIFEST.json", std::ios::trunc) << json;

  // An archive from before MANIFEST.json existed is still checked, entry by entry, against
  // the catalogue, and restores.
  Repack(unpacked, files, false, archive);
  v = Verify(b.backup_id());
  EXPECT_TRUE(v.is_valid()) << v.error_message();
  collector::RestoreBackupResponse restored;
  auto status = Restore(b.backup_id(), "prod", "from-old-archive", false, &restored);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(restored.records_restored(), 500);
}

TEST_F(RestoreTest, DeleteOfAPlainBackupFreesExactlyTheBytesOnDisk) {
  auto b = MakeBackup(1000, 10, /*plain=*/true);
  int64_t on_disk = static_cast<int64_t>(fs::file_size(b.storage_path()));
  for (auto& e : fs::recursive_directory_iterator(BackupPaths(b.storage_path()).files())) {
    if (e.is_regular_file()) on_disk += static_cast<int64_t>(e.file_size());
  }
  collector::DeleteBackupRequest request;
  request.set_backup_id(b.backup_id());
  collector::DeleteBackupResponse response;
  ASSERT_TRUE(repo_->DeleteBackup(Ctx().get(), request, &response).ok());
  EXPECT_EQ(response.status().code(), collector::Status::OK);
  EXPECT_EQ(response.bytes_freed(), on_disk);
  EXPECT_FALSE(fs::exists(b.storage_path()));
  EXPECT_FALSE(fs::exists(BackupPaths(b.storage_path()).files()));
  EXPECT_EQ(server_->store().ListBackups({})->total_count, 0);
  EXPECT_EQ(repo_->DeleteBackup(Ctx().get(), request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(RestoreTest, DeleteIsRefusedWhileAVerifyOfItIsQueued) {
  auto b = MakeBackup(100, 0);
  StopServer();
  StartServer(/*workers=*/0);
  collector::VerifyBackupRequest verify;
  verify.set_wait(false);
  verify.set_backup_id(b.backup_id());
  collector::VerifyBackupResponse queued;
  ASSERT_TRUE(repo_->VerifyBackup(Ctx().get(), verify, &queued).ok());
  EXPECT_EQ(queued.job().state(), collector::QUEUED);
  collector::DeleteBackupRequest request;
  request.set_backup_id(b.backup_id());
  collector::DeleteBackupResponse response;
  auto status = repo_->DeleteBackup(Ctx().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("in use by 1 queued or running job"), std::string::npos);
  EXPECT_TRUE(fs::exists(b.storage_path()));
  EXPECT_EQ(server_->store().GetBackup(b.backup_id())->state, BackupState::kCompleted);
}

TEST_F(RestoreTest, RestoreOfAnUnknownOrUnfinishedBackupIsRefused) {
  collector::RestoreBackupResponse response;
  EXPECT_EQ(Restore("backup-0000000000000000", "prod", "x", false, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Restore("nonsense", "prod", "x", false, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  auto b = MakeBackup(10, 0);
  EXPECT_EQ(Restore(b.backup_id(), "prod", "../x", false, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace backup::testing

namespace backup::testing {
namespace {

TEST_F(RestoreTest, StartUpSweepsLeftoversOfEndedRestoresOnly) {
  auto b = MakeBackup(10, 0);
  StopServer();
  StartServer(/*workers=*/0);
  // Leftovers of jobs that ended (a real finished job, and one the store never knew), and
  // the copy of a job still queued, which must survive.
  auto ended = server_->store().ListJobs({})->jobs.front();
  const auto dir = layout().CollectionDb({"prod", "users"}).parent_path();
  const auto files = layout().CollectionFilesDir({"prod", "users"});
  std::ofstream(dir / ("collection.db.restoring-" + ended.id)) << "x";
  std::ofstream(dir / "collection.db.restoring-job-00000000deadbeef-wal") << "x";
  std::filesystem::create_directories(files.string() + ".old-job-00000000deadbeef");
  Job active{.id = "job-00000000000aaaaa",
             .kind = JobKind::kVerify,
             .collection = {"prod", "users"},
             .backup_id = b.backup_id(),
             .created_at_ms = 1};
  ASSERT_TRUE(server_->store().EnqueueBackupReader(active));
  std::ofstream(dir / "collection.db.restoring-job-00000000000aaaaa") << "x";
  StopServer();
  StartServer(0);
  EXPECT_FALSE(std::filesystem::exists(dir / ("collection.db.restoring-" + ended.id)));
  EXPECT_FALSE(std::filesystem::exists(dir / "collection.db.restoring-job-00000000deadbeef-wal"));
  EXPECT_FALSE(std::filesystem::exists(files.string() + ".old-job-00000000deadbeef"));
  EXPECT_TRUE(std::filesystem::exists(dir / "collection.db.restoring-job-00000000000aaaaa"));
  EXPECT_TRUE(std::filesystem::exists(layout().CollectionDb({"prod", "users"})));
}

}  // namespace
}  // namespace backup::testing
