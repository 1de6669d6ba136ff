// The file-system attacks of someone who can write to a collection's folders, against a real
// server: links and FIFOs where the service expects files and folders, and folders swapped
// for links. Each test asserts the refusal (or the skip) and that nothing outside the data
// root was read into a backup or changed.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>

#include <gtest/gtest.h>

#include "common/beneath.h"
#include "common/sqlite.h"
#include "common/test_point.h"
#include "tests/server_fixture.h"

namespace backup::testing {
namespace {
namespace fs = std::filesystem;

mode_t ModeOf(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

class ConfinementTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    outside_ = dir_.path() / "outside";
    fs::create_directories(outside_);
    std::ofstream(outside_ / "secret.txt") << "root-only secret";
  }

  // BackupCollection with wait; the status and response of the ended job.
  grpc::Status BackupAndWait(const std::string& ns, const std::string& name, bool files,
                             collector::BackupCollectionResponse* response,
                             const std::string& dest = "") {
    collector::BackupCollectionRequest request;
    request.set_dest_path(dest);
    request.mutable_collection()->set_namespace_(ns);
    request.mutable_collection()->set_name(name);
    request.set_include_files(files);
    request.set_max_attempts(1);
    request.set_wait(true);
    return repo_->BackupCollection(Ctx(30).get(), request, response);
  }

  grpc::Status RestoreAndWait(const std::string& id, const std::string& ns,
                              const std::string& name) {
    collector::RestoreBackupRequest request;
    request.set_backup_id(id);
    request.set_dest_namespace(ns);
    request.set_dest_name(name);
    request.set_overwrite(true);
    request.set_wait(true);
    collector::RestoreBackupResponse response;
    return repo_->RestoreBackup(Ctx(30).get(), request, &response);
  }

  bool Verify(const std::string& backup_id) {
    collector::VerifyBackupRequest request;
    request.set_backup_id(backup_id);
    request.set_wait(true);
    collector::VerifyBackupResponse response;
    auto status = repo_->VerifyBackup(Ctx(30).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_TRUE(response.is_valid()) << response.error_message();
    return status.ok() && response.is_valid();
  }

  std::string GoodBackup() {
    CreateCollection("prod", "users", 50, 2);
    collector::BackupCollectionResponse r;
    auto status = BackupAndWait("prod", "users", true, &r);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return r.backup().backup_id();
  }

  fs::path outside_;
};

TEST_F(ConfinementTest, RestoreDoesNotWriteThroughALinkedDatabase) {
  const std::string id = GoodBackup();
  CreateCollection("prod", "target", 5);
  const fs::path victim = outside_ / "victim.db";
  std::ofstream(victim) << "precious";
  const fs::path db = layout().CollectionDb({"prod", "target"});
  fs::remove(db);
  fs::create_symlink(victim, db);
  auto status = RestoreAndWait(id, "prod", "target");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_NE(status.error_message().find("symbolic link"), std::string::npos)
      << status.error_message();
  EXPECT_EQ(ReadFile(victim), "precious");
  EXPECT_TRUE(fs::is_symlink(db));
}

TEST_F(ConfinementTest, RestoreDoesNotWriteThroughALinkedCompanionFile) {
  const std::string id = GoodBackup();
  CreateCollection("prod", "target", 5);
  const fs::path victim = outside_ / "victim";
  std::ofstream(victim) << "precious";
  fs::create_symlink(victim, layout().CollectionDb({"prod", "target"}).string() + "-shm");
  auto status = RestoreAndWait(id, "prod", "target");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_EQ(ReadFile(victim), "precious");
}

TEST_F(ConfinementTest, RestoreDoesNotWriteThroughALinkedCollectionFolder) {
  const std::string id = GoodBackup();
  CreateCollection("prod", "target", 5);
  const fs::path folder = layout().CollectionDb({"prod", "target"}).parent_path();
  fs::create_directories(outside_ / "elsewhere");
  std::ofstream(outside_ / "elsewhere" / "collection.db") << "precious";
  fs::remove_all(folder);
  fs::create_directory_symlink(outside_ / "elsewhere", folder);
  auto status = RestoreAndWait(id, "prod", "target");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_EQ(ReadFile(outside_ / "elsewhere" / "collection.db"), "precious");
  EXPECT_EQ(FileTree(outside_ / "elsewhere"),
            (std::map<std::string, std::string>{{"collection.db", "precious"}}))
      << "the restore wrote beside the linked folder's target";
}

// Links are kept as links (their text) and a FIFO as a FIFO: neither is ever opened, so
// nothing outside the files folder is read.
TEST_F(ConfinementTest, BackupCopiesOnlyRegularFilesReallyInsideTheCollection) {
  CreateCollection("prod", "users", 10, 0);
  const fs::path files = layout().CollectionFilesDir({"prod", "users"});
  fs::create_directories(files / "docs");
  std::ofstream(files / "docs" / "a.txt") << "mine";
  fs::create_symlink(outside_ / "secret.txt", files / "secret.txt");
  fs::create_directory_symlink(outside_, files / "linked-folder");
  ASSERT_EQ(::mkfifo((files / "pipe").c_str(), 0600), 0);

  collector::BackupCollectionResponse r;
  auto status = BackupAndWait("prod", "users", true, &r);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(r.backup().file_count(), 1);
  EXPECT_EQ(r.files_skipped(), 0);
  const fs::path copied = UnpackArchive(r.backup().storage_path(), dir_.path() / "x") / "files";
  EXPECT_EQ(FileTree(copied), (std::map<std::string, std::string>{{"docs/a.txt", "mine"}}));
  // Restored, the links are links to where they pointed and the FIFO is a FIFO.
  ASSERT_TRUE(RestoreAndWait(r.backup().backup_id(), "prod", "copy").ok());
  const fs::path restored = layout().CollectionFilesDir({"prod", "copy"});
  EXPECT_EQ(fs::read_symlink(restored / "secret.txt"), outside_ / "secret.txt");
  EXPECT_EQ(fs::read_symlink(restored / "linked-folder"), outside_);
  EXPECT_TRUE(fs::is_fifo(fs::symlink_status(restored / "pipe")));
  EXPECT_EQ(ReadFile(restored / "docs" / "a.txt"), "mine");
}

// The plain format keeps regular files only: links and FIFOs are skipped and listed, a
// second name of a hard-linked file is copied as a file of its own.
TEST_F(ConfinementTest, APlainBackupListsTheLinksAndFifosItSkips) {
  CreateCollection("prod", "users", 10, 0);
  const fs::path files = layout().CollectionFilesDir({"prod", "users"});
  std::ofstream(files / "a.txt") << "mine";
  ASSERT_EQ(::link((files / "a.txt").c_str(), (files / "b.txt").c_str()), 0);
  fs::create_symlink(outside_ / "secret.txt", files / "secret.txt");
  ASSERT_EQ(::mkfifo((files / "pipe").c_str(), 0600), 0);
  const fs::path dest = layout().BackupsRoot() / "prod" / "users" / "plain.db";
  const auto end = Watch(Backup("prod", "users", true, dest.string()).job().job_id()).back();
  ASSERT_EQ(end.state(), collector::SUCCEEDED) << end.error().message();
  const auto& r = end.backup_result();
  EXPECT_EQ(r.files_skipped(), 2);
  EXPECT_EQ(std::set<std::string>(r.skipped_files().begin(), r.skipped_files().end()),
            (std::set<std::string>{"pipe", "secret.txt"}));
  EXPECT_EQ(FileTree(dest.string() + ".files"),
            (std::map<std::string, std::string>{{"a.txt", "mine"}, {"b.txt", "mine"}}));
}

TEST_F(ConfinementTest, AFilesFolderThatIsALinkIsNotCopiedAtAll) {
  CreateCollection("prod", "users", 10, 0);
  const fs::path files = layout().CollectionFilesDir({"prod", "users"});
  fs::remove_all(files);
  fs::create_directory_symlink(outside_, files);
  collector::BackupCollectionResponse r;
  auto status = BackupAndWait("prod", "users", true, &r);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(r.backup().file_count(), 0);
  EXPECT_EQ(r.files_skipped(), 1);
  EXPECT_TRUE(FileTree(r.backup().storage_path() + ".files").empty());
}

constexpr std::string_view kCopyStarts = "backup: files listed, copy starts";

// Everything under `dir` that holds the outside secret.
std::vector<std::string> HoldingTheSecret(const fs::path& dir) {
  std::vector<std::string> found;
  for (const auto& [path, content] : FileTree(dir)) {
    if (content.find("root-only secret") != std::string::npos) found.push_back(path);
  }
  return found;
}

// A subfolder swapped for a link to a secret folder after the files were listed and
// before they are copied (a test point stops the job there): its files are skipped, not
// read through the link.
TEST_F(ConfinementTest, ASubfolderSwappedForALinkMidJobIsSkippedNotFollowed) {
  CreateCollection("prod", "users", 10, 0);
  const fs::path files = layout().CollectionFilesDir({"prod", "users"});
  fs::create_directories(files / "docs");
  std::ofstream(files / "docs" / "a.txt") << "mine";
  std::ofstream(files / "top.txt") << "top";
  std::ofstream(outside_ / "a.txt") << "root-only secret";
  const auto outside_before = FileTree(outside_);
  std::atomic<bool> swapped{false};
  SetTestPointHook([&](std::string_view point) {
    if (point != kCopyStarts) return;
    fs::rename(files / "docs", files / "docs-moved");
    fs::create_directory_symlink(outside_, files / "docs");
    swapped = true;
  });
  collector::BackupCollectionResponse r;
  auto status = BackupAndWait("prod", "users", true, &r);
  SetTestPointHook({});
  ASSERT_TRUE(swapped);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(std::set<std::string>(r.skipped_files().begin(), r.skipped_files().end()),
            std::set<std::string>{"docs/a.txt"});
  const fs::path copied = UnpackArchive(r.backup().storage_path(), dir_.path() / "x") / "files";
  EXPECT_EQ(FileTree(copied), (std::map<std::string, std::string>{{"top.txt", "top"}}));
  EXPECT_TRUE(HoldingTheSecret(fs::path(r.backup().storage_path()).parent_path()).empty());
  EXPECT_EQ(FileTree(outside_), outside_before);
  EXPECT_TRUE(Verify(r.backup().backup_id()));
}

// A file that grows after the listing (here: between listing and copy) is recorded as it
// was copied, so a verify of the untouched backup passes.
TEST_F(ConfinementTest, AFileThatGrowsWhileBackedUpIsRecordedAsCopied) {
  CreateCollection("prod", "users", 10, 0);
  const fs::path files = layout().CollectionFilesDir({"prod", "users"});
  std::ofstream(files / "log.txt") << "start";
  SetTestPointHook([&](std::string_view point) {
    if (point == kCopyStarts)
      std::ofstream(files / "log.txt", std::ios::app) << std::string(100'000, 'x');
  });
  collector::BackupCollectionResponse r;
  auto status = BackupAndWait("prod", "users", true, &r);
  SetTestPointHook({});
  ASSERT_TRUE(status.ok()) << status.error_message();
  const fs::path unpacked = UnpackArchive(r.backup().storage_path(), dir_.path() / "x");
  const fs::path copied = unpacked / "files" / "log.txt";
  const auto db_bytes = static_cast<int64_t>(fs::file_size(unpacked / "database.sqlite"));
  EXPECT_EQ(r.backup().size_bytes(), db_bytes + static_cast<int64_t>(fs::file_size(copied)));
  EXPECT_TRUE(Verify(r.backup().backup_id()));
}

// A plain-format (dest_path) backup's destination folder swapped for a link to a folder
// outside the roots while the job runs (after it pinned the folder): nothing is written outside,
// and the backup stays in the pinned folder, where a delete through the link is refused.
TEST_F(ConfinementTest, ADestinationFolderSwappedForALinkMidJobWritesNothingOutside) {
  CreateCollection("prod", "users", 10, 1);
  const fs::path dest_dir = layout().BackupsRoot() / "prod" / "users";
  std::atomic<bool> swapped{false};
  SetTestPointHook([&](std::string_view point) {
    if (point != kCopyStarts) return;
    fs::rename(dest_dir, dest_dir.string() + "-moved");
    fs::create_directory_symlink(outside_, dest_dir);
    swapped = true;
  });
  const auto outside_before = FileTree(outside_);
  collector::BackupCollectionResponse r;
  auto status = BackupAndWait("prod", "users", true, &r, (dest_dir / "plain.db").string());
  SetTestPointHook({});
  ASSERT_TRUE(swapped);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(FileTree(outside_), outside_before);
  const fs::path landed = dest_dir.string() + "-moved";
  EXPECT_TRUE(fs::exists(landed / "plain.db"));
  collector::DeleteBackupRequest del;
  del.set_backup_id(r.backup().backup_id());
  collector::DeleteBackupResponse deleted;
  auto refused = repo_->DeleteBackup(Ctx().get(), del, &deleted);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED) << refused.error_message();
  EXPECT_EQ(FileTree(outside_), outside_before);
}

// A plain-format backup's destination folder swapped for a link after the submission's
// check and before a worker starts the job: the job fails on the link, and nothing is written
// outside.
TEST_F(ConfinementTest, ADestinationFolderSwappedBeforeTheJobStartsFailsIt) {
  CreateCollection("prod", "users", 10, 0);
  const fs::path dest_dir = layout().BackupsRoot() / "prod" / "users";
  // Makes the destination folder.
  Watch(Backup("prod", "users", false, (dest_dir / "first.db").string()).job().job_id());
  StopServer();
  StartServer(0);  // the next job waits in the queue
  const auto queued = Backup("prod", "users", false, (dest_dir / "second.db").string());
  fs::rename(dest_dir, dest_dir.string() + "-moved");
  fs::create_directory_symlink(outside_, dest_dir);
  const auto outside_before = FileTree(outside_);
  StopServer();
  StartServer(2);
  auto seen = Watch(queued.job().job_id());
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().state(), collector::FAILED);
  EXPECT_NE(seen.back().error().message().find("link"), std::string::npos)
      << seen.back().error().message();
  EXPECT_EQ(FileTree(outside_), outside_before);
}

TEST_F(ConfinementTest, AFifoInPlaceOfTheDatabaseFailsTheJobAtOnce) {
  CreateCollection("prod", "users", 10, 0);
  const fs::path db = layout().CollectionDb({"prod", "users"});
  fs::remove(db);
  ASSERT_EQ(::mkfifo(db.c_str(), 0600), 0);
  collector::BackupCollectionResponse r;
  auto started = std::chrono::steady_clock::now();
  auto status = BackupAndWait("prod", "users", false, &r);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_NE(status.error_message().find("is a FIFO"), std::string::npos) << status.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

TEST_F(ConfinementTest, BackupsArePrivateWhateverTheUmaskAndRestoresGiveTheModesBack) {
  const mode_t old_umask = ::umask(0);
  CreateCollection("prod", "users", 10, 0);
  const fs::path files = layout().CollectionFilesDir({"prod", "users"});
  std::ofstream(files / "shared.txt") << "for the group";
  fs::permissions(files / "shared.txt", fs::perms(0640));
  fs::permissions(layout().CollectionDb({"prod", "users"}), fs::perms(0660));
  collector::BackupCollectionResponse r;
  auto status = BackupAndWait("prod", "users", true, &r);
  ::umask(old_umask);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const fs::path archive = r.backup().storage_path();
  EXPECT_EQ(ModeOf(archive), 0600u);
  EXPECT_EQ(ModeOf(archive.parent_path()), 0700u);
  EXPECT_EQ(ModeOf(layout().root() / "store"), 0700u);
  collector::BackupCollectionResponse plain;
  ASSERT_TRUE(BackupAndWait("prod", "users", true, &plain,
                            (layout().BackupsRoot() / "p" / "plain.db").string())
                  .ok());
  const fs::path db = plain.backup().storage_path();
  EXPECT_EQ(ModeOf(db), 0600u);
  EXPECT_EQ(ModeOf(db.parent_path()), 0700u);
  EXPECT_EQ(ModeOf(db.string() + ".files"), 0700u);
  EXPECT_EQ(ModeOf(db.string() + ".files/shared.txt"), 0600u);

  ASSERT_TRUE(RestoreAndWait(r.backup().backup_id(), "prod", "copy").ok());
  EXPECT_EQ(ModeOf(layout().CollectionDb({"prod", "copy"})), 0660u);
  EXPECT_EQ(ModeOf(layout().CollectionFilesDir({"prod", "copy"}) / "shared.txt"), 0640u);
}

// The primitive itself: once a folder is pinned, putting a link in its place sends
// neither reads nor writes (nor SQLite) anywhere else.
TEST(PinnedDir, ASwapAfterThePinChangesNothing) {
  TempDir dir;
  const fs::path root = dir.path() / "root", outside = dir.path() / "outside";
  fs::create_directories(root / "a" / "b");
  fs::create_directories(outside);
  {
    auto db = sql::Database::Open((root / "a" / "b" / "x.db").string(), {});
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->Exec("CREATE TABLE t (v); INSERT INTO t VALUES ('inside')"));
  }
  auto pinned = PinnedDir::Root(root)->Sub("a/b", false);
  ASSERT_TRUE(pinned) << pinned.error().message();
  fs::rename(root / "a" / "b", root / "a" / "moved");
  fs::create_directory_symlink(outside, root / "a" / "b");

  std::ofstream(pinned->Path("written.txt")) << "stays inside";
  EXPECT_TRUE(fs::exists(root / "a" / "moved" / "written.txt"));
  EXPECT_TRUE(fs::is_empty(outside));
  auto db = sql::Database::Open(pinned->Path("x.db").string(), {.create = false});
  ASSERT_TRUE(db) << db.error().message();
  auto stmt = db->Prepare("SELECT v FROM t");
  ASSERT_TRUE(stmt && stmt->Step().value_or(false));
  EXPECT_EQ(stmt->Text(0), "inside");
  EXPECT_TRUE(fs::is_empty(outside)) << "SQLite created its files outside";

  // A new pin refuses the link.
  auto again = PinnedDir::Root(root)->Sub("a/b", false);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Code::kPermissionDenied);
  EXPECT_FALSE(PinnedDir::Root(root)->Sub("a/../../outside", false));
}

TEST(PinnedDir, OpenFileInRefusesLinksInAnyComponent) {
  TempDir dir;
  const fs::path root = dir.path() / "root";
  fs::create_directories(root / "real");
  std::ofstream(root / "real" / "f") << "x";
  std::ofstream(dir.path() / "secret") << "s";
  fs::create_directory_symlink(root / "real", root / "link");
  fs::create_symlink(dir.path() / "secret", root / "real" / "s");
  auto pinned = PinnedDir::Root(root);
  ASSERT_TRUE(pinned);
  EXPECT_TRUE(OpenFileIn(*pinned, "real/f"));
  for (const char* bad : {"link/f", "real/s", "../secret"}) {
    auto fd = OpenFileIn(*pinned, bad);
    ASSERT_FALSE(fd) << bad;
    EXPECT_EQ(fd.error().code(), Code::kPermissionDenied) << bad << ": " << fd.error().message();
  }
}

}  // namespace
}  // namespace backup::testing

namespace backup::testing {
namespace {

class BoundsTest : public ServerTest {};

TEST_F(BoundsTest, HostileFieldsAreInvalidArgumentsQuotedBriefly) {
  collector::ListJobsRequest list;
  list.set_state(static_cast<collector::JobState>(99));
  collector::ListJobsResponse jobs;
  EXPECT_EQ(jobs_->ListJobs(Ctx().get(), list, &jobs).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  CreateCollection("prod", "users", 5);
  collector::BackupCollectionRequest backup;
  backup.set_wait(false);
  backup.mutable_collection()->set_namespace_("prod");
  backup.mutable_collection()->set_name("users");
  (*backup.mutable_metadata())["note"] = std::string("a\0b", 3);
  collector::BackupCollectionResponse response;
  auto status = repo_->BackupCollection(Ctx().get(), backup, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("NUL"), std::string::npos) << status.error_message();

  const std::string huge(100'000, 'j');
  collector::GetJobRequest get;
  get.set_job_id(huge);
  collector::GetJobResponse job;
  status = jobs_->GetJob(Ctx().get(), get, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_LT(status.error_message().size(), 300u);
  collector::DeleteBackupRequest del;
  del.set_backup_id(huge);
  collector::DeleteBackupResponse deleted;
  status = repo_->DeleteBackup(Ctx().get(), del, &deleted);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_LT(status.error_message().size(), 300u);
  EXPECT_TRUE(server_->store().ListJobs({})->jobs.empty());
}

TEST_F(BoundsTest, AFailedRestoreIntoANewCollectionLeavesNoFolder) {
  CreateCollection("prod", "users", 20);
  auto r = Backup("prod", "users");
  ASSERT_EQ(Watch(r.job().job_id()).back().state(), collector::SUCCEEDED);
  ASSERT_TRUE(fs::exists(r.backup().storage_path()));
  {  // Damage the backup so the restore fails before it touches anything.
    std::fstream f(r.backup().storage_path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x7f');
  }
  collector::RestoreBackupRequest request;
  request.set_backup_id(r.backup().backup_id());
  request.set_dest_namespace("prod");
  request.set_dest_name("fresh");
  request.set_wait(true);
  collector::RestoreBackupResponse response;
  auto status = repo_->RestoreBackup(Ctx().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DATA_LOSS) << status.error_message();
  EXPECT_FALSE(fs::exists(layout().CollectionDb({"prod", "fresh"}).parent_path()));
  EXPECT_FALSE(fs::exists(layout().CollectionFilesDir({"prod", "fresh"})));
}

}  // namespace
}  // namespace backup::testing
