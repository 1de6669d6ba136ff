// Chunked backups (worker/chunked_io.h) end to end through backupd, in the local store and
// in S3 (a real s3rver), sealed: a repeated backup stores only what changed and every backup
// restores on its own; deletes free only chunks nobody else uses, also while a backup based
// on the deleted one runs; verify finds a changed chunk and a missing pack.
#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "archive_manifest.pb.h"
#include "common/sha256.h"
#include "common/sqlite.h"
#include "common/test_point.h"
#include "tests/s3_server.h"
#include "tests/server_fixture.h"

namespace backup::testing {
namespace {
namespace fs = std::filesystem;

class ChunkedTest : public ServerTest {
 protected:
  void SetUp() override {
    std::ofstream(dir_.path() / "credentials")
        << "[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n";
    const fs::path key = dir_.path() / "backup.key";
    std::ofstream(key) << std::string(64, 'b') << "\n";
    fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
    options_.host.stores.stores = {"offsite=" + s3_.Url("team")};
    options_.host.stores.credentials_file = dir_.path() / "credentials";
    if (Sealed()) {
      options_.host.stores.key_file = key;
    } else {
      options_.host.stores.compression = "none";
    }
    options_.host.stores.format = "chunked";
    StartServer(2);
  }
  virtual bool Sealed() const { return true; }

  collector::BackupCollectionResponse BackupTo(const std::string& store) {
    auto response = BackupAndWait("prod", "users", store, true);
    EXPECT_EQ(response.job().state(), collector::SUCCEEDED) << response.job().error().message();
    return response;
  }

  // The call's status, or INTERNAL with the job's message when the restore failed.
  grpc::Status Restore(const std::string& id, const std::string& name) {
    collector::RestoreBackupResponse response;
    auto status = RestoreAndWait(id, "prod", name, &response);
    if (status.ok() && response.status().code() != collector::Status::OK) {
      return grpc::Status(grpc::StatusCode::INTERNAL, response.status().message());
    }
    return status;
  }
  collector::VerifyBackupResponse Verify(const std::string& id, bool quick) {
    return VerifyAndWait(id, quick);
  }

  int64_t Delete(const std::string& id) {
    collector::DeleteBackupRequest request;
    request.set_backup_id(id);
    collector::DeleteBackupResponse response;
    auto status = repo_->DeleteBackup(Ctx().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.bytes_freed();
  }

  // Changes `rows` rows of the source in place.
  void UpdateRows(int rows) {
    auto db = sql::Database::Open(layout().CollectionDb({"prod", "users"}).string(), {});
    ASSERT_TRUE(db);
    ASSERT_TRUE(
        db->Exec("UPDATE records SET proto_data = randomblob(length(proto_data)) WHERE "
                 "rowid IN (SELECT rowid FROM records ORDER BY random() LIMIT " +
                 std::to_string(rows) + ")"));
  }

  fs::path LocalPacks() const { return layout().root() / "store" / "chunks" / "prod" / "users"; }
  static std::set<std::string> Names(const fs::path& dir) {
    std::set<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) names.insert(e.path().filename());
    return names;
  }

  // The collection's one pack (a small backup fits in one); empty when there is not one.
  fs::path OnlyPack() const {
    const auto packs = Names(LocalPacks());
    EXPECT_EQ(packs.size(), 1u);
    return packs.size() == 1 ? LocalPacks() / *packs.begin() : fs::path();
  }

  void ExpectRestoresAsTheSource(const std::string& id, const std::string& name) {
    ASSERT_TRUE(Restore(id, name).ok());
    EXPECT_EQ(CanonicalDump(layout().CollectionDb({"prod", name})),
              CanonicalDump(layout().CollectionDb({"prod", "users"})));
    EXPECT_EQ(IntegrityCheck(layout().CollectionDb({"prod", name})), "ok");
    EXPECT_EQ(FileTree(layout().CollectionFilesDir({"prod", name})),
              FileTree(layout().CollectionFilesDir({"prod", "users"})));
  }

  S3Server s3_;
};

TEST_F(ChunkedTest, ARepeatedBackupStoresOnlyWhatChangedAndEachRestoresOnItsOwn) {
  CreateCollection("prod", "users", 4000, 0);
  FillRecords(layout().CollectionDb({"prod", "users"}), 2000, 2000, 10000);
  WriteFiles(layout().CollectionFilesDir({"prod", "users"}), 6, 300 << 10);
  for (const std::string store : {"local", "offsite"}) {
    SCOPED_TRACE(store);
    auto first = BackupTo(store).backup();
    EXPECT_TRUE(first.storage_path().find(first.backup_id() + ".chunks.zst.sealed") !=
                std::string::npos)
        << first.storage_path();
    UpdateRows(20);
    auto second = BackupTo(store).backup();
    EXPECT_GT(first.stored_bytes(), 3'000'000);
    EXPECT_LT(second.stored_bytes(), first.stored_bytes() / 10)
        << "the second backup stores the changed pages and its manifest only";
    // The first goes: the second still has everything it needs.
    EXPECT_GT(Delete(first.backup_id()), 0);
    ExpectRestoresAsTheSource(second.backup_id(), "copy-" + store);
    EXPECT_TRUE(Verify(second.backup_id(), false).is_valid());
    EXPECT_TRUE(Verify(second.backup_id(), true).is_valid());
    Delete(second.backup_id());
  }
  EXPECT_TRUE(Names(LocalPacks()).empty()) << "the last delete frees every chunk";
}

TEST_F(ChunkedTest, DeletingFreesOnlyChunksNoOtherBackupUses) {
  CreateCollection("prod", "users", 3000, 4);
  auto first = BackupTo("local").backup();
  const auto packs = Names(LocalPacks());
  ASSERT_FALSE(packs.empty());
  auto second = BackupTo("local").backup();  // nothing changed: all chunks shared
  EXPECT_EQ(Names(LocalPacks()), packs) << "an unchanged collection stores no new pack";
  EXPECT_LT(second.stored_bytes(), 1500)
      << "its manifest names the chunks by runs of places in the packs' indexes, not one by one";
  Delete(first.backup_id());
  EXPECT_EQ(Names(LocalPacks()), packs) << "the second backup still uses every chunk";
  ExpectRestoresAsTheSource(second.backup_id(), "copy");
  Delete(second.backup_id());
  EXPECT_TRUE(Names(LocalPacks()).empty());
}

TEST_F(ChunkedTest, VerifyFindsAChangedChunkAndQuickVerifyAMissingPack) {
  CreateCollection("prod", "users", 3000, 0);
  auto b = BackupTo("local").backup();
  const fs::path pack = OnlyPack();
  ASSERT_FALSE(pack.empty());
  std::string bytes = ReadFile(pack);
  EXPECT_EQ(bytes.find("SQLite format 3"), std::string::npos) << "sealed chunks are opaque";
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 1);
  std::ofstream(pack, std::ios::binary | std::ios::trunc) << bytes;
  auto full = Verify(b.backup_id(), false);
  EXPECT_FALSE(full.is_valid());
  EXPECT_NE(full.error_message().find("does not authenticate"), std::string::npos)
      << full.error_message();
  EXPECT_FALSE(Restore(b.backup_id(), "copy").ok());
  EXPECT_FALSE(fs::exists(layout().CollectionDb({"prod", "copy"})));
  fs::remove(pack);
  auto quick = Verify(b.backup_id(), true);
  EXPECT_FALSE(quick.is_valid());
  EXPECT_NE(quick.error_message().find("is missing"), std::string::npos) << quick.error_message();
}

// A backup its last verify found unreadable is never built on: the next backup stores its
// chunks anew (it would otherwise name the damaged ones) and restores whole.
TEST_F(ChunkedTest, ABackupFoundInvalidIsNotABase) {
  CreateCollection("prod", "users", 3000, 0);
  auto first = BackupTo("local").backup();
  const fs::path pack = OnlyPack();
  ASSERT_FALSE(pack.empty());
  std::string bytes = ReadFile(pack);
  bytes[bytes.size() / 3] = static_cast<char>(bytes[bytes.size() / 3] ^ 1);
  std::ofstream(pack, std::ios::binary | std::ios::trunc) << bytes;
  ASSERT_FALSE(Verify(first.backup_id(), false).is_valid());
  auto second = BackupTo("local").backup();
  EXPECT_GT(second.stored_bytes(), first.stored_bytes() / 2)
      << "the second backup stores its chunks itself";
  ExpectRestoresAsTheSource(second.backup_id(), "copy");
}

// The base of a running backup is deleted while that backup is between choosing it and
// storing its chunks: the sweep waits, and the new backup restores whole.
TEST_F(ChunkedTest, ASweepWhileABackupRunsNeverRemovesAChunkItIsAboutToUse) {
  CreateCollection("prod", "users", 3000, 2);
  auto base = BackupTo("local").backup();
  std::mutex mu;
  bool deleted = false;
  std::string deleted_error;
  SetTestPointHook([&](std::string_view point) {
    std::lock_guard lock(mu);
    if (point != "backup: base chosen, chunks next" || deleted) return;
    deleted = true;
    collector::DeleteBackupRequest request;
    request.set_backup_id(base.backup_id());
    collector::DeleteBackupResponse response;
    auto status = repo_->DeleteBackup(Ctx().get(), request, &response);
    if (!status.ok()) deleted_error = status.error_message();
  });
  auto next = BackupTo("local").backup();
  SetTestPointHook({});
  {
    std::lock_guard lock(mu);
    ASSERT_TRUE(deleted);
    EXPECT_EQ(deleted_error, "");
  }
  ExpectRestoresAsTheSource(next.backup_id(), "copy");
  EXPECT_TRUE(Verify(next.backup_id(), false).is_valid());
  // The base's own chunks nobody uses went with the sweep after the new backup completed.
  Delete(next.backup_id());
  EXPECT_TRUE(Names(LocalPacks()).empty());
}

// The host's copies of pack indexes (data/cache/pack-indexes): the one folder of the
// local store's collection, entries named by the SHA-256 of their pack's name.
class IndexCacheTest : public ChunkedTest {
 protected:
  fs::path CacheDir() const {
    const fs::path root = layout().PackIndexCacheDir();
    std::error_code ec;
    auto it = fs::directory_iterator(root, ec);
    EXPECT_FALSE(ec) << root;
    return !ec && it != fs::directory_iterator() ? it->path() : fs::path();
  }

  // Every pack of the store has an entry holding its index (the pack's tail), and no other.
  void ExpectCacheHoldsEveryPack() {
    const auto packs = Names(LocalPacks());
    const fs::path dir = CacheDir();
    ASSERT_FALSE(dir.empty());
    EXPECT_EQ(Names(dir).size(), packs.size());
    for (const std::string& pack : packs) {
      SCOPED_TRACE(pack);
      const fs::path entry = dir / Sha256Hex(pack);
      ASSERT_TRUE(fs::is_regular_file(fs::symlink_status(entry))) << "a file, not a link";
      const std::string index = ReadFile(entry);
      const std::string bytes = ReadFile(LocalPacks() / pack);
      ASSERT_GT(index.size(), 0u);
      ASSERT_LT(index.size(), bytes.size());
      EXPECT_EQ(bytes.substr(bytes.size() - index.size()), index);
    }
  }
};

// With the store's copy of every index damaged, the next backup still builds on its base:
// it found the indexes on the host.
TEST_F(IndexCacheTest, ABackupFindsItsBasesIndexesOnTheHost) {
  CreateCollection("prod", "users", 3000, 2);
  auto first = BackupTo("local").backup();
  ExpectCacheHoldsEveryPack();
  std::map<std::string, std::string> saved;
  for (const std::string& pack : Names(LocalPacks())) {
    const fs::path path = LocalPacks() / pack;
    saved[pack] = ReadFile(path);
    std::string bytes = saved[pack];
    bytes[bytes.size() - 20] = static_cast<char>(bytes[bytes.size() - 20] ^ 1);  // its index
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }
  UpdateRows(20);
  auto second = BackupTo("local").backup();
  EXPECT_LT(second.stored_bytes(), first.stored_bytes() / 10)
      << "the base's indexes came from the host, not from the damaged packs";
  for (const auto& [pack, bytes] : saved) {
    std::ofstream(LocalPacks() / pack, std::ios::binary | std::ios::trunc) << bytes;
  }
  ExpectRestoresAsTheSource(second.backup_id(), "copy");
  EXPECT_TRUE(Verify(second.backup_id(), false).is_valid());
}

// A pack lost from the store is not built on because the host has its index: the next
// backup finds its base unreadable, stores in full and restores whole.
TEST_F(IndexCacheTest, APackLostFromTheStoreIsNotBuiltOnFromItsCopy) {
  CreateCollection("prod", "users", 3000, 2);
  auto first = BackupTo("local").backup();
  const auto packs = Names(LocalPacks());
  ASSERT_FALSE(packs.empty());
  fs::remove(LocalPacks() / *packs.begin());
  UpdateRows(20);
  auto second = BackupTo("local").backup();
  EXPECT_GT(second.stored_bytes(), first.stored_bytes() / 2) << "stored in full";
  ExpectRestoresAsTheSource(second.backup_id(), "copy");
  EXPECT_TRUE(Verify(second.backup_id(), false).is_valid());
}

// A damaged copy on the host costs a fetch, not a backup; the copies follow the newest
// backup's packs (a deleted backup's go).
TEST_F(IndexCacheTest, AWrongCopyCostsAFetchAndTheCopiesFollowTheNewestBackup) {
  CreateCollection("prod", "users", 3000, 2);
  auto first = BackupTo("local").backup();
  const fs::path dir = CacheDir();
  ASSERT_FALSE(dir.empty());
  const auto entries = Names(dir);
  ASSERT_FALSE(entries.empty());
  for (const std::string& entry : entries) {
    std::string bytes = ReadFile(dir / entry);
    for (char& c : bytes) c = static_cast<char>(c ^ 0x5a);
    std::ofstream(dir / entry, std::ios::binary | std::ios::trunc) << bytes;
  }
  // One entry a link to a right copy elsewhere: not followed, replaced by a file.
  const fs::path linked = dir / *entries.begin();
  const fs::path elsewhere = dir_.path() / "elsewhere";
  std::string right = ReadFile(linked);
  for (char& c : right) c = static_cast<char>(c ^ 0x5a);
  std::ofstream(elsewhere, std::ios::binary) << right;
  fs::remove(linked);
  fs::create_symlink(elsewhere, linked);
  std::ofstream(dir / "stray-entry") << "not an index";
  UpdateRows(20);
  auto second = BackupTo("local").backup();
  EXPECT_LT(second.stored_bytes(), first.stored_bytes() / 10) << "built on the base";
  ExpectCacheHoldsEveryPack();  // the wrong copies and the link replaced, the stray one gone
  ExpectRestoresAsTheSource(second.backup_id(), "copy");
  Delete(first.backup_id());
  UpdateRows(20);
  auto third = BackupTo("local").backup();
  EXPECT_LT(third.stored_bytes(), first.stored_bytes() / 10);
  Delete(second.backup_id());
  ExpectCacheHoldsEveryPack();
  ExpectRestoresAsTheSource(third.backup_id(), "copy-3");
}

// A store holding archives keeps them readable once the process writes chunked backups:
// both restore and verify side by side, and deleting the chunked one leaves the archive.
TEST_F(ChunkedTest, ArchivesMadeBeforeStayReadableBesideChunkedBackups) {
  CreateCollection("prod", "users", 3000, 3);
  StopServer();
  options_.host.stores.format = "archive";
  StartServer(2);
  auto archive = BackupTo("local").backup();
  EXPECT_NE(archive.storage_path().find(".tar.zst.sealed"), std::string::npos);
  StopServer();
  options_.host.stores.format = "chunked";
  StartServer(2);
  auto chunked = BackupTo("local").backup();
  EXPECT_NE(chunked.storage_path().find(".chunks.zst.sealed"), std::string::npos);
  for (const auto* b : {&archive, &chunked}) {
    SCOPED_TRACE(b->storage_path());
    EXPECT_TRUE(Verify(b->backup_id(), false).is_valid());
    EXPECT_TRUE(Verify(b->backup_id(), true).is_valid());
  }
  ExpectRestoresAsTheSource(archive.backup_id(), "from-archive");
  Delete(chunked.backup_id());
  EXPECT_TRUE(Names(LocalPacks()).empty());
  ExpectRestoresAsTheSource(archive.backup_id(), "from-archive-again");
}

// Neither sealed nor compressed: a chunk's bytes changed in place still decode, so only
// the hashes can tell.
class PlainChunkedTest : public ChunkedTest {
 protected:
  bool Sealed() const override { return false; }
};

TEST_F(PlainChunkedTest, AChunkChangedInPlaceFailsTheRestoreAndVerifyNamesIt) {
  CreateCollection("prod", "users", 3000, 0);
  auto b = BackupTo("local").backup();
  const fs::path pack = OnlyPack();
  ASSERT_FALSE(pack.empty());
  std::string bytes = ReadFile(pack);
  const size_t at = bytes.find("SQLite format 3");
  ASSERT_NE(at, std::string::npos) << "unsealed, uncompressed chunks hold the pages as they are";
  bytes[at + size_t{4096} * 3] =
      static_cast<char>(bytes[at + size_t{4096} * 3] ^ 1);  // inside a later page
  std::ofstream(pack, std::ios::binary | std::ios::trunc) << bytes;
  EXPECT_FALSE(Restore(b.backup_id(), "copy").ok());
  EXPECT_FALSE(fs::exists(layout().CollectionDb({"prod", "copy"})));
  auto full = Verify(b.backup_id(), false);
  EXPECT_FALSE(full.is_valid());
  EXPECT_NE(full.error_message().find("does not match its id"), std::string::npos)
      << full.error_message();
}

// Chunks of one page, as formats 2 and 3 cut them (`--chunk-kib 4`): each chunk alone in
// its frame, so a backup's packs and manifest are format 3's.
class PageChunkedTest : public PlainChunkedTest {
 protected:
  void SetUp() override {
    options_.host.stores.chunk_kib = 4;
    PlainChunkedTest::SetUp();
  }
};

// The manifest of a backup in a local store, unsealed and uncompressed.
collector::archive::ChunkedManifest PlainManifest(const fs::path& path) {
  collector::archive::ChunkedManifest m;
  EXPECT_TRUE(m.ParseFromString(ReadFile(path))) << path;
  return m;
}

// A format 3 backup (page chunks, no frames) restores and verifies after the process
// switched to the default, quarter pages in frames (format 4); the first format 4 backup
// cannot build on page chunks and stores in full, the next one builds on it.
TEST_F(PageChunkedTest, AFormat3BackupStaysReadableAndFormat4BuildsAfterIt) {
  CreateCollection("prod", "users", 3000, 2);
  auto old = BackupTo("local").backup();
  EXPECT_EQ(PlainManifest(old.storage_path()).format(), 3);
  StopServer();
  options_.host.stores.chunk_kib = 0;
  StartServer(2);
  ExpectRestoresAsTheSource(old.backup_id(), "from-format-3");
  EXPECT_TRUE(Verify(old.backup_id(), false).is_valid());
  EXPECT_TRUE(Verify(old.backup_id(), true).is_valid());
  auto next = BackupTo("local").backup();
  EXPECT_EQ(PlainManifest(next.storage_path()).format(), 4);
  EXPECT_GT(next.stored_bytes(), old.stored_bytes() / 2) << "its chunks are cut differently";
  UpdateRows(5);
  auto third = BackupTo("local").backup();
  EXPECT_LT(third.stored_bytes(), next.stored_bytes() / 10) << "and the one after builds on it";
  ExpectRestoresAsTheSource(third.backup_id(), "from-format-4");
  EXPECT_TRUE(Verify(third.backup_id(), false).is_valid());
  EXPECT_TRUE(Verify(old.backup_id(), false).is_valid()) << "the format 3 packs stay as they were";
  for (const auto* b : {&old, &next, &third}) Delete(b->backup_id());
  EXPECT_TRUE(Names(LocalPacks()).empty());
}

// The chunked format as it first shipped (format 2): each chunk's id, pack, offset and
// sizes in the manifest, packs without an index. Made here from a format 3 backup
// (unsealed and uncompressed, so the bytes are plain protobuf).
void RewriteAsFormat2(const fs::path& manifest_path, const fs::path& packs_dir) {
  collector::archive::ChunkedManifest m;
  ASSERT_TRUE(m.ParseFromString(ReadFile(manifest_path)));
  ASSERT_EQ(m.format(), 3);
  std::vector<collector::archive::ChunkPackIndex> indexes;
  for (auto& pack : *m.mutable_packs()) {
    const fs::path path = packs_dir / pack.name();
    const std::string bytes = ReadFile(path);
    ASSERT_EQ(std::ssize(bytes), pack.size());
    const auto at = static_cast<size_t>(pack.index_offset());
    ASSERT_EQ(bytes[at], '\0') << "an unsealed index stored raw";
    indexes.emplace_back();
    ASSERT_TRUE(indexes.back().ParseFromString(bytes.substr(at + 1)));
    fs::resize_file(path, at);
    pack.set_size(pack.index_offset());
    pack.clear_index_offset();
    pack.clear_index_plain();
  }
  auto to_columns = [&](collector::archive::ChunkedFile& f) {
    for (int r = 0; r < f.run_pack_size(); ++r) {
      const auto& index = indexes[f.run_pack(r)];
      for (uint32_t k = f.run_first(r); k < f.run_first(r) + f.run_count(r); ++k) {
        uint64_t offset = 0;
        for (uint32_t j = 0; j < k; ++j) offset += index.stored_size(static_cast<int>(j));
        f.mutable_ids()->append(index.ids().substr(size_t{k} * 32, 32));
        f.add_pack(f.run_pack(r));
        f.add_offset(offset);
        f.add_stored_size(index.stored_size(static_cast<int>(k)));
        f.add_plain_size(index.plain_size(static_cast<int>(k)));
      }
    }
    f.clear_run_pack();
    f.clear_run_first();
    f.clear_run_count();
  };
  to_columns(*m.mutable_database());
  for (auto& f : *m.mutable_files()) to_columns(f);
  m.set_format(2);
  std::ofstream(manifest_path, std::ios::binary | std::ios::trunc) << m.SerializeAsString();
}

TEST_F(PageChunkedTest, AFormat2BackupStaysReadableAndTheNextBackupStoresInFull) {
  CreateCollection("prod", "users", 3000, 2);
  auto old = BackupTo("local").backup();
  ASSERT_NO_FATAL_FAILURE(RewriteAsFormat2(old.storage_path(), LocalPacks()));
  ExpectRestoresAsTheSource(old.backup_id(), "from-format-2");
  EXPECT_TRUE(Verify(old.backup_id(), false).is_valid());
  EXPECT_TRUE(Verify(old.backup_id(), true).is_valid());
  auto next = BackupTo("local").backup();
  EXPECT_GT(next.stored_bytes(), old.stored_bytes() / 2)
      << "its packs have no index to find chunks by: the next backup stores them again";
  auto third = BackupTo("local").backup();
  EXPECT_LT(third.stored_bytes(), next.stored_bytes() / 10) << "and the one after builds on it";
  ExpectRestoresAsTheSource(third.backup_id(), "from-third");
  for (const auto* b : {&old, &next, &third}) Delete(b->backup_id());
  EXPECT_TRUE(Names(LocalPacks()).empty());
}

// Chunks smaller than a page (1 KiB of 4 KiB pages): a changed row changes part of its
// page, so the next backup stores less than with whole pages; both restore whole.
class SubPageChunkedTest : public ChunkedTest {
 protected:
  void SetUp() override {
    options_.host.stores.chunk_kib = 1;
    ChunkedTest::SetUp();
  }
};

TEST_F(SubPageChunkedTest, ChunksOfAQuarterPageStoreLessAfterAChangeAndRestoreWhole) {
  CreateCollection("prod", "users", 0, 2);
  FillRecords(layout().CollectionDb({"prod", "users"}), 4000, 600);
  auto first = BackupTo("local").backup();
  UpdateRows(20);
  auto second = BackupTo("local").backup();
  // 20 of ~6 rows a page touch ~20 pages (80 KiB): a quarter page each plus the header's.
  EXPECT_LT(second.stored_bytes(), 20 * 3 * 1024 + 8192) << "whole pages would be 80 KiB";
  ExpectRestoresAsTheSource(second.backup_id(), "copy");
  EXPECT_TRUE(Verify(first.backup_id(), false).is_valid());
  EXPECT_TRUE(Verify(second.backup_id(), false).is_valid());
}

// Backups taken while a writer commits: each restores to a whole database holding exactly
// the rows its backup counted (the page snapshot is one consistent moment).
TEST_F(ChunkedTest, BackupsWhileAWriterCommitsRestoreToConsistentDatabases) {
  CreateCollection("prod", "users", 5000, 0);
  const fs::path db = layout().CollectionDb({"prod", "users"});
  std::atomic<bool> stop{false};
  std::atomic<int> commits{0};
  std::thread writer([&] {
    auto conn = sql::Database::Open(db.string(), {});
    ASSERT_TRUE(conn);
    ASSERT_TRUE(conn->Exec("PRAGMA journal_mode=WAL"));
    for (int i = 0; !stop.load(); ++i) {
      auto s = conn->Exec("INSERT INTO records (id, proto_data, labels) VALUES ('w" +
                          std::to_string(i) + "', randomblob(3000), '{}')");
      if (s) ++commits;
    }
  });
  std::vector<collector::BackupMetadata> backups;
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    backups.push_back(BackupTo("local").backup());
  }
  stop = true;
  writer.join();
  EXPECT_GT(commits.load(), 50);
  for (size_t i = 0; i < backups.size(); ++i) {
    const std::string name = "copy" + std::to_string(i);
    ASSERT_TRUE(Restore(backups[i].backup_id(), name).ok());
    const fs::path restored = layout().CollectionDb({"prod", name});
    EXPECT_EQ(IntegrityCheck(restored), "ok");
    auto conn = sql::Database::Open(restored.string(), {.read_only = true});
    ASSERT_TRUE(conn);
    EXPECT_EQ(conn->QueryInt("SELECT count(*) FROM records").value_or(-1),
              backups[i].record_count());
  }
  EXPECT_LT(backups.front().record_count(), backups.back().record_count());
}

}  // namespace
}  // namespace backup::testing
