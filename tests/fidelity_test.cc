// A files folder comes back as it was, in every format (plain, archive, chunked) and on
// both control stores (SQLite, PostgreSQL): names of any bytes (not UTF-8, control
// characters, names that sort differently as bytes and as paths) and paths longer than
// PATH_MAX are backed up, verified and restored exactly, and no such name breaks a listing
// of jobs or backups.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>

#include <gtest/gtest.h>

#include "common/sha256.h"
#include "common/sqlite.h"
#include "common/text.h"
#include "tests/pg_cluster.h"
#include "tests/server_fixture.h"

namespace backup::testing {
namespace {
namespace fs = std::filesystem;

// Writes `content` at `relative` below `root`, making its folders, one name at a time
// through descriptors (so the path may be longer than PATH_MAX).
void WriteBelow(const fs::path& root, const std::string& relative, const std::string& content) {
  int dir = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dir, 0) << root;
  size_t at = 0;
  for (size_t slash; (slash = relative.find('/', at)) != std::string::npos; at = slash + 1) {
    const std::string part = relative.substr(at, slash - at);
    ASSERT_TRUE(::mkdirat(dir, part.c_str(), 0755) == 0 || errno == EEXIST) << part;
    const int next = ::openat(dir, part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    ::close(dir);
    ASSERT_GE(next, 0) << part;
    dir = next;
  }
  const int fd = ::openat(dir, relative.substr(at).c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
  ::close(dir);
  ASSERT_GE(fd, 0) << relative.size() << " bytes: " << std::strerror(errno);
  ASSERT_EQ(::write(fd, content.data(), content.size()), std::ssize(content));
  ::close(fd);
}

// Every regular file below the folder `dir` (an open descriptor, closed here): relative
// name as bytes -> content; any other entry but a folder as "<other>".
void ReadBelow(int dir, const std::string& prefix, std::map<std::string, std::string>& out) {
  DIR* d = ::fdopendir(dir);
  ASSERT_NE(d, nullptr);
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    ASSERT_EQ(::fstatat(::dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW), 0);
    const std::string relative = prefix + name;
    if (S_ISDIR(st.st_mode)) {
      const int sub = ::openat(::dirfd(d), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      ASSERT_GE(sub, 0);
      ReadBelow(sub, relative + "/", out);
    } else if (S_ISREG(st.st_mode)) {
      const int fd = ::openat(::dirfd(d), name.c_str(), O_RDONLY | O_NOFOLLOW);
      ASSERT_GE(fd, 0);
      std::string content(static_cast<size_t>(st.st_size), '\0');
      ASSERT_EQ(::read(fd, content.data(), content.size()), st.st_size);
      ::close(fd);
      out[relative] = content;
    } else {
      out[relative] = "<other>";
    }
  }
  ::closedir(d);
}

std::map<std::string, std::string> Tree(const fs::path& root) {
  std::map<std::string, std::string> out;
  const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << root;
  if (fd >= 0) ReadBelow(fd, "", out);
  return out;
}

// A path of `total` bytes: folders of 200-byte names, then a file's name to make up the rest.
std::string LongPath(size_t total, char fill) {
  std::string path;
  while (total - path.size() > 250) path += std::string(200, fill) + "/";
  path += std::string(total - path.size(), fill);
  return path;
}

// Shown in a failure message: the names as escaped bytes.
std::string Listed(const std::map<std::string, std::string>& tree) {
  std::string out;
  for (const auto& [name, content] : tree) {
    out += ShowName(name, 80) + " (" + std::to_string(name.size()) + " bytes), ";
  }
  return out;
}

enum class Format { kPlain, kArchive, kChunked };
enum class Control { kSqlite, kPostgres };

class FidelityTest : public ServerTest,
                     public ::testing::WithParamInterface<std::tuple<Format, Control>> {
 protected:
  void SetUp() override {
    const auto [format, control] = GetParam();
    if (control == Control::kPostgres) {
      PgCluster* cluster = SharedPgCluster();
      ASSERT_NE(cluster, nullptr) << "no PostgreSQL for the tests";
      const std::string db = "fidelity_" + dir_.path().filename().string().substr(12);
      ASSERT_TRUE(cluster->EnsureDatabase(db));
      options_.host.control = cluster->ConnInfo(db);
    }
    options_.host.stores.format = format == Format::kChunked ? "chunked" : "archive";
    StartServer(2);
    CreateCollection("prod", "users", 20, 0);
  }

  fs::path Files(const std::string& name) const {
    return layout().CollectionFilesDir({"prod", name});
  }

  // Backs up prod/users with its files in the test's format; the finished job.
  collector::Job BackUp() {
    if (std::get<0>(GetParam()) == Format::kPlain) {
      const fs::path dest = layout().BackupsRoot() / "prod" / "users" / "plain.db";
      return Watch(Backup("prod", "users", true, dest.string()).job().job_id()).back();
    }
    return BackupAndWait("prod", "users", "", true).job();
  }

  // Backs up, verifies and restores prod/users into prod/copy; the copy's files equal the
  // source's, and every listing still answers.
  void RoundTrip() {
    const auto source = Tree(Files("users"));
    const collector::Job backup = BackUp();
    ASSERT_EQ(backup.state(), collector::SUCCEEDED) << backup.error().message();
    const std::string id = backup.backup_result().backup().backup_id();
    EXPECT_EQ(backup.backup_result().files_skipped(), 0);
    EXPECT_EQ(backup.backup_result().backup().file_count(), std::ssize(source));

    // Listings of jobs and backups answer (a name that is not UTF-8 put into a protobuf
    // string would make them fail to serialize).
    collector::ListJobsResponse jobs;
    ASSERT_TRUE(jobs_->ListJobs(Ctx().get(), {}, &jobs).ok());
    EXPECT_GE(jobs.jobs_size(), 1);
    EXPECT_EQ(GetJob(backup.job_id()).state(), collector::SUCCEEDED);
    collector::ListBackupsRequest list;
    list.mutable_collection()->set_namespace_("prod");
    list.mutable_collection()->set_name("users");
    collector::ListBackupsResponse backups;
    ASSERT_TRUE(repo_->ListBackups(Ctx().get(), list, &backups).ok());
    EXPECT_EQ(backups.backups_size(), 1);

    const auto verified = VerifyAndWait(id, /*quick=*/false);
    EXPECT_TRUE(verified.is_valid()) << verified.error_message();

    collector::RestoreBackupResponse restored;
    const grpc::Status status = RestoreAndWait(id, "prod", "copy", &restored);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(restored.status().code(), collector::Status::OK) << restored.status().message();
    const auto copy = Tree(Files("copy"));
    EXPECT_EQ(copy, source) << "source: " << Listed(source) << "\ncopy: " << Listed(copy);
  }
};

TEST_P(FidelityTest, NamesOfAnyBytesComeBackAndNoListingBreaks) {
  const std::vector<std::string> names = {
      "\xc3\xa9.txt",                                       // é.txt
      "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/\xe6\x96\x87",  // 日本語/文
      "emoji-\xf0\x9f\x98\x80",                             // 😀
      "x\xff\xfe",                                          // not UTF-8
      "latin1-\xe9t\xe9/inner\x80",                         // not UTF-8 folder and file
      "line\nbreak\ttab",
      "back\\slash \"quoted\" 'single'",
      "a/b",  // "a/b" < "a-b" as paths, "a-b" < "a/b" as bytes
      "a-b",
      "a.b/c",
      "-leading-dash",
      " leading space",
  };
  for (size_t i = 0; i < names.size(); ++i) {
    ASSERT_NO_FATAL_FAILURE(WriteBelow(Files("users"), names[i], "content " + std::to_string(i)));
  }
  RoundTrip();
}

TEST_P(FidelityTest, PathsLongerThanPathMaxAreBackedUpVerifiedAndRestored) {
  ASSERT_NO_FATAL_FAILURE(WriteBelow(Files("users"), LongPath(4'070, 'a'), "near PATH_MAX"));
  ASSERT_NO_FATAL_FAILURE(WriteBelow(Files("users"), LongPath(4'095, 'b'), "at PATH_MAX"));
  ASSERT_NO_FATAL_FAILURE(WriteBelow(Files("users"), LongPath(9'000, 'c'), "twice PATH_MAX"));
  ASSERT_NO_FATAL_FAILURE(WriteBelow(Files("users"), "short.txt", "short"));
  RoundTrip();
}

// What a full lstat walk sees of one entry: type, mode, owner, size, allocated blocks,
// mtime_ns, link text, xattrs, and which earlier name shares its inode.
struct Seen {
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  int64_t size = 0, blocks = 0, mtime_ns = 0;
  std::string target, xattrs, same_file_as;
  bool operator==(const Seen&) const = default;
};

void PrintTo(const Seen& s, std::ostream* os) {
  *os << "mode " << s.mode << " uid " << s.uid << " gid " << s.gid << " size " << s.size
      << " blocks " << s.blocks << " mtime " << s.mtime_ns << " target " << ShowName(s.target)
      << " xattrs " << s.xattrs << " link " << s.same_file_as;
}

std::string Xattrs(const std::string& path) {
  std::string names(4096, '\0');
  const ssize_t n = ::llistxattr(path.c_str(), names.data(), names.size());
  if (n <= 0) return "";
  std::string out;
  for (size_t at = 0; at < static_cast<size_t>(n);) {
    const std::string name = names.c_str() + at;
    at += name.size() + 1;
    std::string value(4096, '\0');
    const ssize_t v = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    out += name + "=" + value.substr(0, static_cast<size_t>(std::max<ssize_t>(v, 0))) + ";";
  }
  return out;
}

void Walk(const std::string& path, const std::string& relative, std::map<std::string, Seen>& out,
          std::map<std::pair<dev_t, ino_t>, std::string>& inodes) {
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0) << path;
  Seen seen;
  seen.mode = st.st_mode;
  seen.uid = st.st_uid;
  seen.gid = st.st_gid;
  seen.mtime_ns = st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec;
  if (!S_ISDIR(st.st_mode)) {  // a folder's size and blocks are the file system's business
    seen.size = st.st_size;
    seen.blocks = st.st_blocks;
  }
  if (S_ISLNK(st.st_mode)) {
    std::string text(4096, '\0');
    text.resize(static_cast<size_t>(::readlink(path.c_str(), text.data(), text.size())));
    seen.target = text;
  } else {
    seen.xattrs = Xattrs(path);
  }
  if (S_ISREG(st.st_mode)) {
    auto [it, first] = inodes.emplace(std::pair{st.st_dev, st.st_ino}, relative);
    if (!first) seen.same_file_as = it->second;
  }
  out[relative] = seen;
  if (!S_ISDIR(st.st_mode)) return;
  DIR* d = ::opendir(path.c_str());
  ASSERT_NE(d, nullptr);
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") names.push_back(e->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    std::string child = path;
    child += '/';
    child += name;
    std::string child_relative = relative;
    if (!child_relative.empty()) child_relative += '/';
    child_relative += name;
    Walk(child, child_relative, out, inodes);
  }
}

std::map<std::string, Seen> Metadata(const fs::path& root) {
  std::map<std::string, Seen> out;
  std::map<std::pair<dev_t, ino_t>, std::string> inodes;
  Walk(root.string(), "", out, inodes);
  return out;
}

std::string Describe(const std::map<std::string, Seen>& tree) {
  std::string out;
  for (const auto& [path, s] : tree) {
    std::ostringstream line;
    line << "  \"" << ShowName(path, 60) << "\" ";
    PrintTo(s, &line);
    out += line.str();
    out += '\n';
  }
  return out;
}

void SetMtime(const fs::path& path, int64_t ns) {
  const timespec times[2] = {
      {0, UTIME_OMIT},
      {static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
}

// A files folder as applications have them: private and group folders, an empty folder, a
// setuid program owned by nobody, hard links, a sparse file, xattrs, links (never followed)
// and a FIFO; every mtime set to the nanosecond, folders last.
void BuildTree(const fs::path& root) {
  fs::create_directories(root / "private/deeper");
  fs::create_directories(root / "shared");
  fs::create_directories(root / "empty");
  std::ofstream(root / "private/deeper/secret.txt") << "secret";
  std::ofstream(root / "shared/report.csv") << "a,b\n1,2\n";
  std::ofstream(root / "setuid-tool") << "#!/bin/sh\necho hi\n";
  std::ofstream(root / "shared/linked-a") << "one inode, two names";
  ASSERT_EQ(::link((root / "shared/linked-a").c_str(), (root / "linked-b").c_str()), 0);
  {  // 8 MiB with a hole of nearly all of it
    const int fd = ::open((root / "sparse.img").c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "head", 4, 0), 4);
    ASSERT_EQ(::pwrite(fd, "tail", 4, (8 << 20) - 4), 4);
    ::close(fd);
  }
  ASSERT_EQ(::setxattr((root / "shared/report.csv").c_str(), "user.origin", "export", 6, 0), 0);
  ASSERT_EQ(::setxattr((root / "shared").c_str(), "user.team", "ops", 3, 0), 0);
  ASSERT_EQ(::symlink("../outside/of/the/folder", (root / "shared/up-link").c_str()), 0);
  ASSERT_EQ(::symlink("/etc/passwd", (root / "absolute-link").c_str()), 0);
  ASSERT_EQ(::symlink("x\xff-not-utf8", (root / "odd-link").c_str()), 0);
  ASSERT_EQ(::mkfifo((root / "queue.fifo").c_str(), 0620), 0);
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown((root / "setuid-tool").c_str(), 65534, 65534), 0);
    ASSERT_EQ(::lchown((root / "shared/up-link").c_str(), 65534, 65534), 0);
    ASSERT_EQ(::chown((root / "shared").c_str(), 0, 65534), 0);
  }
  ASSERT_EQ(::chmod((root / "setuid-tool").c_str(), 04755), 0);
  ASSERT_EQ(::chmod((root / "private").c_str(), 0700), 0);
  ASSERT_EQ(::chmod((root / "private/deeper/secret.txt").c_str(), 0400), 0);
  ASSERT_EQ(::chmod((root / "shared").c_str(), 02750), 0);
  ASSERT_EQ(::chmod((root / "empty").c_str(), 0555), 0);
  int64_t ns = 1'600'000'000'123'456'789;
  for (const char* p : {"private/deeper/secret.txt", "shared/report.csv", "setuid-tool",
                        "shared/linked-a", "sparse.img", "shared/up-link", "absolute-link",
                        "odd-link", "queue.fifo", "private/deeper", "private", "shared", "empty"}) {
    ASSERT_NO_FATAL_FAILURE(SetMtime(root / p, ns += 1'000'000'007));
  }
  ASSERT_NO_FATAL_FAILURE(SetMtime(root, ns + 1));
}

// Every entry comes back with its type, mode, owner, size, allocated blocks, mtime_ns, link
// text, xattrs and hard links, in a new collection and in place (where what the backup did
// not hold goes, and what it held that was removed since comes back).
// The formats that keep the whole tree (the plain format keeps regular files only, and says
// what it skips: ConfinementTest.APlainBackupListsTheLinksAndFifosItSkips).
class TreeFidelityTest : public FidelityTest {};

TEST_P(TreeFidelityTest, EveryEntryComesBackWithItsMetadataInANewCollectionAndInPlace) {
  ASSERT_NO_FATAL_FAILURE(BuildTree(Files("users")));
  const auto before = Metadata(Files("users"));
  const collector::Job backup = BackUp();
  ASSERT_EQ(backup.state(), collector::SUCCEEDED) << backup.error().message();
  const std::string id = backup.backup_result().backup().backup_id();
  EXPECT_EQ(backup.backup_result().files_skipped(), 0);
  EXPECT_EQ(Metadata(Files("users")), before) << "the backup changed the source";

  const auto verified = VerifyAndWait(id, /*quick=*/false);
  EXPECT_TRUE(verified.is_valid()) << verified.error_message();

  collector::RestoreBackupResponse restored;
  ASSERT_TRUE(RestoreAndWait(id, "prod", "copy", &restored).ok());
  ASSERT_EQ(restored.status().code(), collector::Status::OK) << restored.status().message();
  EXPECT_EQ(restored.entries_not_restored_size(), 0) << restored.entries_not_restored(0);
  if (::geteuid() == 0) {
    EXPECT_EQ(restored.owners_not_restored(), 0);
  }
  const auto copy = Metadata(Files("copy"));
  EXPECT_EQ(copy, before) << "source:\n" << Describe(before) << "restored:\n" << Describe(copy);

  // In place: a file the backup did not hold goes, a link removed since comes back.
  std::ofstream(Files("users") / "shared/added-later") << "not in the backup";
  ASSERT_EQ(::unlink((Files("users") / "absolute-link").c_str()), 0);
  collector::RestoreBackupRequest request;
  request.set_backup_id(id);
  request.set_dest_namespace("prod");
  request.set_dest_name("users");
  request.set_overwrite(true);
  request.set_wait(true);
  collector::RestoreBackupResponse in_place;
  ASSERT_TRUE(repo_->RestoreBackup(Ctx(60).get(), request, &in_place).ok());
  ASSERT_EQ(in_place.status().code(), collector::Status::OK) << in_place.status().message();
  const auto again = Metadata(Files("users"));
  EXPECT_EQ(again, before) << "source:\n" << Describe(before) << "in place:\n" << Describe(again);
}

// The database comes back as it was: its journal mode (WAL or a rollback journal), through
// either snapshot (the pages as a read sees them, or VACUUM INTO); a hot journal left by a
// writer that died mid-commit does not fail the backup; a new collection takes the source's
// labels.
enum class Snapshot { kPages, kVacuum };
class DatabaseFidelityTest : public ServerTest,
                             public ::testing::WithParamInterface<std::tuple<Format, Snapshot>> {
 protected:
  void SetUp() override {
    const auto [format, snapshot] = GetParam();
    options_.host.stores.format = format == Format::kChunked ? "chunked" : "archive";
    options_.host.stores.snapshot = snapshot == Snapshot::kVacuum ? "vacuum" : "pages";
    StartServer(2);
  }

  std::string JournalMode(const std::string& name) {
    auto db = sql::Database::Open(layout().CollectionDb({"prod", name}).string(), {});
    EXPECT_TRUE(db);
    auto stmt = db->Prepare("PRAGMA journal_mode");
    EXPECT_TRUE(stmt && stmt->Step().value_or(false));
    return stmt->Text(0);
  }

  // The SHA-256 of prod/<name>'s canonical dump (short to show when it differs).
  std::string DumpHash(const std::string& name) {
    const std::string dump = CanonicalDump(layout().CollectionDb({"prod", name}));
    Sha256 hash;
    hash.Update(dump.data(), dump.size());
    return hash.HexDigest();
  }

  // Backs prod/<name> up and restores it into prod/<name>-copy; the backup job.
  collector::Job RoundTrip(const std::string& name) {
    auto job = BackupAndWait("prod", name, "", false).job();
    EXPECT_EQ(job.state(), collector::SUCCEEDED) << job.error().message();
    collector::RestoreBackupResponse restored;
    EXPECT_TRUE(
        RestoreAndWait(job.backup_result().backup().backup_id(), "prod", name + "-copy", &restored)
            .ok());
    EXPECT_EQ(restored.status().code(), collector::Status::OK) << restored.status().message();
    return job;
  }
};

TEST_P(DatabaseFidelityTest, TheJournalModeComesBackAsTheSourceHadIt) {
  CreateCollection("prod", "wal", 50, 0);
  CreateCollection("prod", "rollback", 50, 0);
  {
    auto db = sql::Database::Open(layout().CollectionDb({"prod", "rollback"}).string(), {});
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->Exec("PRAGMA journal_mode=DELETE"));
  }
  ASSERT_EQ(JournalMode("wal"), "wal");
  ASSERT_EQ(JournalMode("rollback"), "delete");
  const std::string wal = DumpHash("wal");
  const std::string rollback = DumpHash("rollback");
  RoundTrip("wal");
  RoundTrip("rollback");
  EXPECT_EQ(JournalMode("wal-copy"), "wal");
  EXPECT_EQ(JournalMode("rollback-copy"), "delete");
  EXPECT_EQ(DumpHash("wal-copy"), wal);
  EXPECT_EQ(DumpHash("rollback-copy"), rollback);
}

// A rollback-journal database whose writer died mid-transaction, its change already in the
// file: the backup holds the last commit (the hot journal rolled back, as SQLite's next
// connection must), not the half-written change, and does not fail.
TEST_P(DatabaseFidelityTest, AHotJournalIsRolledBackNotBackedUpOrFailed) {
  CreateCollection("prod", "hot", 200, 0);
  const fs::path path = layout().CollectionDb({"prod", "hot"});
  {
    auto db = sql::Database::Open(path.string(), {});
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->Exec("PRAGMA journal_mode=DELETE"));
  }
  const std::string committed = DumpHash("hot");
  // The sqlite3 command line as the writer (a process of its own: forking this threaded
  // test would not be safe), killed by SIGKILL from inside its open transaction.
  const std::string writer =
      "printf 'PRAGMA cache_size=2;\\nBEGIN;\\nUPDATE records SET proto_data = "
      "randomblob(length(proto_data) + 300);\\n.system kill -9 $PPID\\n' | sqlite3 '" +
      path.string() + "' 2>/dev/null";
  ASSERT_NE(std::system(writer.c_str()), 0);  // killed
  struct stat journal {};
  ASSERT_EQ(::stat((path.string() + "-journal").c_str(), &journal), 0) << "no hot journal";
  ASSERT_GT(journal.st_size, 0);

  RoundTrip("hot");
  EXPECT_EQ(DumpHash("hot-copy"), committed);
  EXPECT_EQ(DumpHash("hot"), committed);
}

TEST_P(DatabaseFidelityTest, ANewCollectionTakesTheSourcesLabels) {
  collector::CreateCollectionRequest request;
  request.mutable_collection()->set_namespace_("prod");
  request.mutable_collection()->set_name("labelled");
  (*request.mutable_collection()->mutable_metadata()->mutable_labels())["team"] = "billing";
  (*request.mutable_collection()->mutable_metadata()->mutable_labels())["tier"] = "gold";
  collector::CreateCollectionResponse created;
  ASSERT_TRUE(repo_->CreateCollection(Ctx().get(), request, &created).ok());
  FillRecords(layout().CollectionDb({"prod", "labelled"}), 10);
  const auto job = RoundTrip("labelled");
  collector::DiscoverRequest discover;
  discover.set_namespace_("prod");
  (*discover.mutable_label_filter())["original_collection"] = "prod/labelled";
  collector::DiscoverResponse found;
  ASSERT_TRUE(repo_->Discover(Ctx().get(), discover, &found).ok());
  ASSERT_EQ(found.collections_size(), 1);
  const auto& labels = found.collections(0).metadata().labels();
  EXPECT_EQ(labels.at("team"), "billing");
  EXPECT_EQ(labels.at("tier"), "gold");
  EXPECT_EQ(labels.at("restored_from_backup"), job.backup_result().backup().backup_id());
}

std::string DatabaseParamName(const ::testing::TestParamInfo<std::tuple<Format, Snapshot>>& info) {
  const auto [format, snapshot] = info.param;
  return std::string(format == Format::kArchive ? "Archive" : "Chunked") +
         (snapshot == Snapshot::kPages ? "Pages" : "Vacuum");
}

// Chunked backups always read pages (VACUUM INTO only when the WAL never settles).
INSTANTIATE_TEST_SUITE_P(FormatsAndSnapshots, DatabaseFidelityTest,
                         ::testing::Values(std::tuple{Format::kArchive, Snapshot::kPages},
                                           std::tuple{Format::kArchive, Snapshot::kVacuum},
                                           std::tuple{Format::kChunked, Snapshot::kPages}),
                         DatabaseParamName);

std::string ParamName(const ::testing::TestParamInfo<std::tuple<Format, Control>>& info) {
  const auto [format, control] = info.param;
  const char* f = format == Format::kPlain     ? "Plain"
                  : format == Format::kArchive ? "Archive"
                                               : "Chunked";
  return std::string(f) + (control == Control::kSqlite ? "OnSqlite" : "OnPostgres");
}

INSTANTIATE_TEST_SUITE_P(
    FormatsAndStores, FidelityTest,
    ::testing::Combine(::testing::Values(Format::kPlain, Format::kArchive, Format::kChunked),
                       ::testing::Values(Control::kSqlite, Control::kPostgres)),
    ParamName);
INSTANTIATE_TEST_SUITE_P(FormatsAndStores, TreeFidelityTest,
                         ::testing::Combine(::testing::Values(Format::kArchive, Format::kChunked),
                                            ::testing::Values(Control::kSqlite,
                                                              Control::kPostgres)),
                         ParamName);

}  // namespace
}  // namespace backup::testing
