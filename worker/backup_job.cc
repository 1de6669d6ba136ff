#include "worker/backup_job.h"

#include <sys/stat.h>

#include <charconv>
#include <chrono>
#include <future>
#include <optional>
#include <set>

#include <spdlog/spdlog.h>

#include "backup.pb.h"
#include "common/backup_paths.h"
#include "common/beneath.h"
#include "common/fs.h"
#include "common/names.h"
#include "common/sqlite.h"
#include "common/test_point.h"
#include "common/text.h"
#include "common/wire.h"
#include "worker/archive_io.h"
#include "worker/chunk_sweep.h"
#include "worker/chunked_io.h"
#include "worker/file_tree.h"
#include "worker/page_snapshot.h"
#include "worker/snapshot.h"

namespace backup {
namespace fs = std::filesystem;

namespace {

// Milliseconds since the previous lap, for the phase timings in the completion log line.
class Laps {
 public:
  int64_t Lap() {
    auto now = std::chrono::steady_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - mark_).count();
    mark_ = now;
    return ms;
  }

 private:
  std::chrono::steady_clock::time_point mark_ = std::chrono::steady_clock::now();
};

// What attempts killed before they could clean up left: partial files, incomplete uploads.
Status AbortEarlierUploads(BackupStore& store, const BackupRecord& backup, int attempt) {
  for (int a = 1; a <= attempt; ++a) {
    BACKUP_TRY(store.AbortIncomplete(AttemptKey(backup.object_key, backup.id, a)), backup.id);
  }
  return {};
}

// The snapshot's SHA-256, made durable: it is still in the page cache, so it is hashed
// while the kernel writes it out, and the fsync and the hash overlap instead of adding up.
Result<FileDigest> HashAndSync(const fs::path& snapshot, JobContext& ctx) {
  auto synced = std::async(std::launch::async, [&] { return FsyncFile(snapshot); });
  auto digest = HashFile(snapshot, [&](int64_t) { return !ctx.cancelled(); });
  Status fsynced = synced.get();
  if (!digest) {
    if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled while hashing the snapshot"));
    return Fail(digest.error().Context("hash snapshot"));
  }
  BACKUP_TRY(fsynced, "snapshot");
  return digest;
}

// A staged snapshot's size only: the archive hashes it as it reads it (opened without
// following a link, as here).
Result<FileDigest> SizeOf(const fs::path& snapshot) {
  struct stat st {};
  if (::lstat(snapshot.c_str(), &st) != 0) {
    return Fail(Error::FromErrno(errno, "stat the snapshot " + snapshot.string()));
  }
  if (!S_ISREG(st.st_mode)) {
    return Fail(Error::Internal("the snapshot " + snapshot.string() + " is not a regular file"));
  }
  return FileDigest{st.st_size, ""};
}

}  // namespace

// What the rows say this backup is, and what it will copy. Every path below goes through
// a folder pinned at planning time (beneath.h): source and destination cannot be
// redirected by a link or a swap after this point.
struct BackupJob::Plan {
  BackupRecord backup;
  CollectionRecord collection;
  PinnedName source;                   // the collection database
  int db_mode = 0644;                  // its permission bits
  std::optional<PinnedDir> files_dir;  // its files folder, when backed up and present
  PinnedName dest;                     // the backup's final database name
  BackupPaths paths;                   // the backup's names, through dest.dir
  FileListing listing;                 // empty unless the backup includes files
  int64_t files_bytes = 0;
};

// The temporary and final names this attempt writes, each removed on failure. The final
// names are only guarded once this attempt has put something there.
struct BackupJob::Attempt {
  Attempt(const BackupPaths& paths, int attempt)
      : partial(paths.PartialDb(attempt)),
        files_partial(paths.PartialFiles(attempt)),
        guard_partial(partial),
        guard_journal(partial.string() + "-journal"),  // VACUUM INTO writes through one
        guard_files_partial(files_partial) {}
  void Commit() {
    if (guard_final) guard_final->Release();
    if (guard_files_final) guard_files_final->Release();
  }

  const fs::path partial;
  const fs::path files_partial;
  ScopedRemove guard_partial, guard_journal, guard_files_partial;
  std::optional<ScopedRemove> guard_final, guard_files_final;
  Skipped skipped;  // what the files folder held that this attempt did not copy
  Laps laps;
  int64_t snapshot_ms = 0, hash_ms = 0, count_ms = 0, files_ms = 0;
};

struct BackupJob::Snapshot {
  FileDigest digest;
  int64_t records = 0;
};

Result<BackupJob::Plan> BackupJob::MakePlan(const Job& job) const {
  auto backup = catalog_.GetBackup(job.backup_id);
  if (!backup) return Fail(backup.error());
  auto collection = catalog_.GetCollection(job.collection);
  if (!collection) return Fail(collection.error());
  const std::vector<fs::path> data_root{options_.data_root};
  auto source = PinParent(collection->db_path, data_root, false);
  if (!source) return Fail(source.error().Context("collection database"));
  BACKUP_TRY(RequireSafeDatabase(source->dir, source->name, false), "collection database");
  auto st = source->dir.LstatIn(source->name);
  if (!st || !*st) return Fail(Error::NotFound("collection database " + collection->db_path));
  // The destination folder is pinned (and made 0700) below its backup root: a link
  // swapped in after the submission's check cannot move the write elsewhere. An archive's
  // snapshot is staged in <data>/staging first.
  const bool archived = backup->archived();
  auto dest =
      archived ? PinParent(options_.data_root / "staging" / (backup->id + ".db"), data_root, true)
               : PinParent(backup->storage_path, options_.backup_roots, true);
  if (!dest) return Fail(dest.error().Context("backup destination"));
  Plan plan{*backup,
            *collection,
            *source,
            static_cast<int>((*st)->st_mode & 07777),
            {},
            *dest,
            BackupPaths(dest->path()),
            {},
            0};
  if (backup->includes_files) BACKUP_TRY(PlanFiles(plan), "files folder");
  return plan;
}

Status BackupJob::PlanFiles(Plan& plan) const {
  auto rel = RelativeInside(plan.collection.files_path, options_.data_root);
  if (!rel) return Fail(rel.error());
  auto root = PinnedDir::Root(options_.data_root);
  if (!root) return Fail(root.error());
  auto dir = root->Sub(*rel, false);
  if (!dir && dir.error().code() == Code::kNotFound) return {};  // no files yet
  if (!dir && dir.error().code() == Code::kPermissionDenied) {
    // The folder itself is (or passes through) a link: nothing in it is the collection's.
    spdlog::warn("files folder {}: {}; no files backed up", plan.collection.files_path,
                 dir.error().message());
    plan.listing.skipped.Add(".");
    return {};
  }
  if (!dir) return Fail(dir.error());
  plan.files_dir = *dir;
  auto listed = ListFiles(*dir);
  if (!listed) return Fail(listed.error());
  plan.listing = std::move(*listed);
  for (const SourceFile& f : plan.listing.files) plan.files_bytes += f.size;
  return {};
}

Result<BackupJob::Snapshot> BackupJob::TakeSnapshot(const Plan& plan, Attempt& attempt,
                                                    JobContext& ctx, bool durable) const {
  const fs::path source = plan.source.path();
  const fs::path& final_path = plan.paths.db();
  BACKUP_TRY(RollBackHotJournal(source), "snapshot");
  auto estimate = EstimateSnapshotBytes(source);
  if (!estimate) return Fail(estimate.error().Context("read source " + source.string()));
  const auto items = static_cast<int64_t>(plan.listing.files.size());
  ctx.SetTotals(*estimate + plan.files_bytes, items);
  ctx.SetPhase("snapshot");
  BACKUP_TRY(VacuumInto(source, attempt.partial, ctx, options_.checkpoint_source), "snapshot");
  BACKUP_TRY(SetMode(attempt.partial, 0600), "snapshot");
  attempt.snapshot_ms = attempt.laps.Lap();
  auto digest = durable ? HashAndSync(attempt.partial, ctx) : SizeOf(attempt.partial);
  if (!digest) return Fail(digest.error());
  ctx.SetTotals(digest->size + plan.files_bytes, items);
  ctx.SetBytesDone(digest->size);
  BACKUP_TRY(RenameNoReplace(attempt.partial, final_path), "snapshot");
  attempt.guard_final.emplace(final_path);
  if (durable) BACKUP_TRY(FsyncDir(final_path.parent_path()), "snapshot");
  attempt.hash_ms = attempt.laps.Lap();
  auto records = CountRecords(final_path);
  attempt.count_ms = attempt.laps.Lap();
  if (!records) return Fail(records.error().Context("count records in the snapshot"));
  return Snapshot{*digest, *records};
}

Result<std::vector<ManifestEntry>> BackupJob::CopyFiles(const Plan& plan, Attempt& attempt,
                                                        JobContext& ctx) const {
  if (!plan.backup.includes_files) return std::vector<ManifestEntry>{};
  ctx.SetPhase("files");
  TestPoint("backup: files listed, copy starts");
  std::vector<SourceFile> none;
  const std::vector<SourceFile>& files = plan.files_dir ? plan.listing.files : none;
  auto copied = plan.files_dir
                    ? CopyTree(*plan.files_dir, files, attempt.files_partial, ctx, attempt.skipped)
                    : Result<std::vector<ManifestEntry>>(std::vector<ManifestEntry>{});
  if (!copied) return Fail(copied.error());
  if (!plan.files_dir) BACKUP_TRY(CreatePrivateDir(attempt.files_partial), "files");
  const fs::path files_final = plan.paths.files();
  BACKUP_TRY(RenameNoReplace(attempt.files_partial, files_final), "files");
  attempt.guard_files_final.emplace(files_final);
  BACKUP_TRY(FsyncDir(files_final.parent_path()), "files");
  attempt.files_ms = attempt.laps.Lap();
  return copied;
}

Status BackupJob::Finalize(const Plan& plan, const Snapshot& snapshot,
                           const std::vector<ManifestEntry>& manifest, const Skipped& skipped,
                           const ObjectInfo* stored, JobContext& ctx) const {
  ctx.SetPhase("finalize");
  if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled before completion"));
  BackupRecord done = plan.backup;
  int64_t files_bytes = 0;  // what was copied, not what was listed
  for (const ManifestEntry& e : manifest) files_bytes += e.size;
  done.size_bytes = snapshot.digest.size + files_bytes;
  done.db_mode = plan.db_mode;
  done.record_count = snapshot.records;
  done.file_count = static_cast<int64_t>(manifest.size());
  done.sha256 = snapshot.digest.sha256;
  done.db_bytes = snapshot.digest.size;
  if (stored != nullptr) {
    done.stored_bytes = stored->size;
    done.stored_etag = stored->etag;
  }
  done.completed_at = clock_.NowMs() / 1000;
  done.state = BackupState::kCompleted;
  collector::BackupCollectionResponse result;
  *result.mutable_status() = OkStatus();
  *result.mutable_backup() = ToProto(done);
  result.set_bytes_transferred(done.size_bytes);
  result.set_files_skipped(skipped.count);
  for (const std::string& name : skipped.names) result.add_skipped_files(ShowName(name));
  Status recorded =
      catalog_.CompleteBackup(ctx.lease(), done, manifest, result.SerializeAsString());
  if (recorded) ctx.MarkRecorded();
  return recorded;
}

Result<BackupJob::Destination> BackupJob::ResolveDestination(const BackupRecord& backup) const {
  Destination d;
  d.store = options_.stores->Find(backup.store);
  if (d.store == nullptr) {
    return Fail(Error::FailedPrecondition("backup store \"" + backup.store +
                                          "\" is not configured in this process (--store)"));
  }
  if (!backup.key_id.empty()) {
    d.key = options_.stores->keys().Find(backup.key_id);
    if (d.key == nullptr) {
      return Fail(Error::FailedPrecondition("this process does not have encryption key " +
                                            backup.key_id + " (--encryption-key-file)"));
    }
  }
  // The row says whether to compress; this process's setting says how hard.
  d.compression = options_.stores->compression();
  if (backup.compression == "none") d.compression = Compression{0};
  if (backup.compression == "zstd" && d.compression.zstd_level == 0) d.compression = Compression{3};
  return d;
}

static Result<std::unique_ptr<PageSnapshot>> TakePages(const fs::path& source,
                                                       const fs::path& staged, bool checkpoint,
                                                       JobContext& ctx);

struct BackupJob::ArchiveSnapshot {
  Snapshot snapshot;                    // its digest is filled in as it is archived
  std::unique_ptr<PageSnapshot> pages;  // null: staged at the plan's db path
};

Result<BackupJob::ArchiveSnapshot> BackupJob::TakeArchiveSnapshot(const Plan& plan,
                                                                  Attempt& attempt,
                                                                  JobContext& ctx) const {
  if (options_.stores->vacuum_snapshot()) {
    auto staged = TakeSnapshot(plan, attempt, ctx, /*durable=*/false);
    if (!staged) return Fail(staged.error());
    // The copy takes the source's journal mode (VACUUM INTO writes a rollback-journal one),
    // so that a restore gives it back; nothing has the staged copy open any more.
    if (sql::HeaderSaysWal(plan.source.path().string())) {
      BACKUP_TRY(sql::MarkWal(plan.paths.db().string()), "snapshot's journal mode");
    }
    return ArchiveSnapshot{*staged, nullptr};
  }
  return TakePageSnapshot(plan, attempt, ctx);
}

Result<BackupJob::ArchiveSnapshot> BackupJob::TakePageSnapshot(const Plan& plan, Attempt& attempt,
                                                               JobContext& ctx) const {
  ctx.SetPhase("snapshot");
  auto pages = TakePages(plan.source.path(), attempt.partial, options_.checkpoint_source, ctx);
  if (!pages) return Fail(pages.error().Context("snapshot"));
  if ((*pages)->tries() > 1) {
    spdlog::info("{} page snapshot settled after {} tries, writers held off {} us", ctx.LogTag(),
                 (*pages)->tries(), (*pages)->writers_held_us());
  }
  auto records = (*pages)->CountRecords();
  if (!records) return Fail(records.error().Context("count records in the snapshot"));
  attempt.snapshot_ms = attempt.laps.Lap();
  return ArchiveSnapshot{Snapshot{FileDigest{(*pages)->size(), ""}, *records}, std::move(*pages)};
}

// What earlier attempts killed after their upload stored (an archive, a manifest): not the
// backup's, now that this attempt's is recorded. Best effort.
static void RemoveEarlierAttempts(BackupStore& store, const BackupRecord& backup, int attempt) {
  for (int earlier = 1; earlier < attempt; ++earlier) {
    (void)store.Delete(AttemptKey(backup.object_key, backup.id, earlier));
  }
}

Status BackupJob::RunArchive(Plan& plan, JobContext& ctx) const {
  const BackupRecord& backup = plan.backup;
  auto dest = ResolveDestination(backup);
  if (!dest) return Fail(dest.error());
  BackupStore* store = dest->store;
  BACKUP_TRY(plan.paths.RemovePartials(), "remove leftovers of an earlier attempt");
  BACKUP_TRY(RemoveAll(plan.paths.db()), "remove leftovers of an earlier attempt");
  Attempt attempt(plan.paths, ctx.lease().attempt);  // never committed: the stage goes
  attempt.skipped = plan.listing.skipped;
  auto taken = TakeArchiveSnapshot(plan, attempt, ctx);
  if (!taken) return Fail(taken.error());
  Snapshot* snapshot = &taken->snapshot;
  // Progress: the snapshot, then the archive (the snapshot again and the files); what is
  // shown never goes back, so it holds still while the upload catches up.
  ctx.SetTotals(snapshot->digest.size + plan.files_bytes,
                static_cast<int64_t>(plan.listing.files.size()));
  ctx.SetBytesDone(0);
  ctx.SetPhase("upload");
  BACKUP_TRY(AbortEarlierUploads(*store, backup, ctx.lease().attempt),
             "remove what an earlier attempt left");
  TestPoint("backup: files listed, copy starts");
  Tree tree = std::move(plan.listing.tree);  // the writer adds the files' xattrs to it
  ArchiveSource source{&plan.backup,
                       plan.paths.db(),
                       plan.db_mode,
                       plan.backup.includes_files && plan.files_dir ? &*plan.files_dir : nullptr,
                       &plan.listing.files,
                       &tree};
  source.pages = taken->pages.get();
  source.on_snapshot_read = [&taken] { taken->pages.reset(); };
  Plan stored = plan;  // the row as it will be recorded: this attempt's key
  stored.backup.object_key = AttemptKey(backup.object_key, backup.id, ctx.lease().attempt);
  stored.backup.storage_path = store->Locate(stored.backup.object_key);
  auto written = WriteArchive(*store, stored.backup.object_key, dest->compression, dest->key,
                              source, attempt.skipped, ctx);
  if (!written) return Fail(written.error().Context("archive to " + stored.backup.storage_path));
  attempt.files_ms = attempt.laps.Lap();
  snapshot->digest = written->db;  // hashed as it was archived
  auto recorded =
      Finalize(stored, *snapshot, written->manifest, attempt.skipped, &written->put, ctx);
  if (!recorded) {
    // Not recorded: this attempt's archive is nobody's (its key is its own).
    if (auto removed = store->Delete(stored.backup.object_key); !removed) {
      spdlog::warn("{} could not remove the unrecorded archive {}: {}", ctx.LogTag(),
                   stored.backup.storage_path, removed.error().message());
    }
    return Fail(recorded.error().Context("record completion"));
  }
  RemoveEarlierAttempts(*store, backup, ctx.lease().attempt);
  spdlog::info(
      "{} backup completed: {} bytes in {} ({} stored, {}{}), {} records, {} files, sha256 {} "
      "(ms: snapshot {}, hash+fsync {}, count {}, archive {}, finalize {})",
      ctx.LogTag(), snapshot->digest.size + plan.files_bytes, stored.backup.storage_path,
      written->put.size, dest->compression.Name(), dest->key ? ", sealed" : "", snapshot->records,
      written->manifest.size(), snapshot->digest.sha256.substr(0, 12), attempt.snapshot_ms,
      attempt.hash_ms, attempt.count_ms, attempt.files_ms, attempt.laps.Lap());
  return {};
}

std::optional<ChunkedBase> BackupJob::FindBase(const BackupRecord& backup, JobContext& ctx) const {
  BackupQuery query;
  query.collection = backup.collection;
  auto list = catalog_.ListBackups(query);  // newest first
  if (!list) {
    spdlog::warn("{} no base for an incremental backup: {}", ctx.LogTag(), list.error().message());
    return std::nullopt;
  }
  for (const BackupRecord& b : list->backups) {
    if (b.state != BackupState::kCompleted || b.store != backup.store || !IsChunked(b) ||
        b.key_id != backup.key_id || b.id == backup.id) {
      continue;
    }
    if (b.last_verified_at > 0 && !b.last_verify_valid) {  // found unreadable: never a base
      spdlog::info("{} backup {} failed its last verify: not a base", ctx.LogTag(), b.id);
      continue;
    }
    BackupStore* store = options_.stores->Find(b.store);
    if (store == nullptr) return std::nullopt;
    auto base = LoadChunkedBase(*store, b, options_.stores->keys(), IndexCache());
    if (!base) {
      spdlog::warn("{} base {} unreadable, backing up in full: {}", ctx.LogTag(), b.id,
                   base.error().message());
      return std::nullopt;
    }
    if (base->indexes.empty()) {
      spdlog::info("{} backup {} has no pack indexes (format {}): backing up in full", ctx.LogTag(),
                   b.id, base->manifest.format());
      return std::nullopt;
    }
    spdlog::info("{} incremental on backup {}", ctx.LogTag(), b.id);
    return std::move(*base);
  }
  return std::nullopt;
}

// What a killed attempt of a chunked backup left: its packs are uploaded in order with at
// most kPackUploadsInFlight at once, so the incomplete ones lie within that distance of its
// last stored pack. (Its stored packs no manifest names go with the sweep after this
// attempt completes.)
constexpr int kMaxPackSeq = 1 << 24;

static Status AbortEarlierPacks(BackupStore& store, const BackupRecord& backup, int attempt) {
  if (attempt <= 1) return {};
  const std::string prefix = PackPrefix(backup.collection);
  auto listed = store.List(prefix);
  if (!listed) return Fail(listed.error());
  for (int a = 1; a < attempt; ++a) {
    const std::string stem = backup.id + ".a" + std::to_string(a) + ".";
    std::set<int> stored;
    for (const ObjectInfo& o : *listed) {
      const std::string name = o.key.substr(prefix.size());
      if (!name.starts_with(stem) || !name.ends_with(".pack")) continue;
      // A name the store lists is not trusted: a sequence number that does not parse or is
      // beyond any attempt's (a pack is 16 MiB) is left to the sweep.
      int seq = 0;
      const char* digits = name.data() + stem.size();
      const auto parsed = std::from_chars(digits, name.data() + name.size(), seq);
      if (parsed.ec != std::errc() || seq <= 0 || seq > kMaxPackSeq) continue;
      stored.insert(seq);
    }
    const int last = stored.empty() ? 0 : *stored.rbegin();
    for (int seq = std::max(1, last - kPackUploadsInFlight + 1); seq <= last + kPackUploadsInFlight;
         ++seq) {
      if (stored.contains(seq)) continue;
      BACKUP_TRY(store.AbortIncomplete(prefix + stem + std::to_string(seq) + ".pack"),
                 "pack of attempt " + std::to_string(a));
    }
  }
  return {};
}

// Whatever earlier attempts of a chunked backup left: a staged copy, partial uploads.
static Status RemoveLeftovers(const BackupPaths& paths, BackupStore& store,
                              const BackupRecord& backup, int attempt) {
  BACKUP_TRY(paths.RemovePartials(), "staging");
  BACKUP_TRY(RemoveAll(paths.db()), "staging");
  BACKUP_TRY(AbortEarlierUploads(store, backup, attempt), "manifest");
  return AbortEarlierPacks(store, backup, attempt);
}

// A page snapshot of the live database; when writers never let its checkpoint settle, one
// of a VACUUM INTO copy staged at `staged` (whose pages are then renumbered: the backup
// stores more chunks, and says so).
static Result<std::unique_ptr<PageSnapshot>> TakePages(const fs::path& source,
                                                       const fs::path& staged, bool checkpoint,
                                                       JobContext& ctx) {
  PageSnapshot::Options options;
  options.checkpoint_after = checkpoint;
  auto snap = PageSnapshot::Take(source, options, ctx);
  if (snap || snap.error().code() != Code::kUnavailable) return snap;
  spdlog::warn("{} page snapshot: {}; taking a VACUUM INTO copy instead", ctx.LogTag(),
               snap.error().message());
  BACKUP_TRY(VacuumInto(source, staged, ctx, checkpoint), "snapshot");
  return PageSnapshot::Take(staged, options, ctx);
}

Status BackupJob::RunChunked(Plan& plan, JobContext& ctx) const {
  const BackupRecord& backup = plan.backup;
  auto dest = ResolveDestination(backup);
  if (!dest) return Fail(dest.error());
  BackupStore* store = dest->store;
  BACKUP_TRY(RemoveLeftovers(plan.paths, *store, backup, ctx.lease().attempt),
             "remove what an earlier attempt left");
  Attempt attempt(plan.paths, ctx.lease().attempt);  // never committed: a staged copy goes
  attempt.skipped = plan.listing.skipped;
  auto taken = TakePageSnapshot(plan, attempt, ctx);
  if (!taken) return Fail(taken.error());
  std::unique_ptr<PageSnapshot>& snap = taken->pages;
  auto base = FindBase(backup, ctx);
  TestPoint("backup: base chosen, chunks next");
  ctx.SetTotals(snap->size() + plan.files_bytes, static_cast<int64_t>(plan.listing.files.size()));
  ctx.SetPhase("chunks");
  Tree tree = std::move(plan.listing.tree);  // the writer adds the files' xattrs to it
  Plan stored = plan;                        // the row as it will be recorded: this attempt's key
  stored.backup.object_key = AttemptKey(backup.object_key, backup.id, ctx.lease().attempt);
  stored.backup.storage_path = store->Locate(stored.backup.object_key);
  const ChunkedSource source{
      .backup = &plan.backup,
      .snapshot = snap.get(),
      .db_mode = plan.db_mode,
      .files_dir = plan.backup.includes_files && plan.files_dir ? &*plan.files_dir : nullptr,
      .files = &plan.listing.files,
      .tree = &tree,
      .chunk_bytes = options_.stores->chunk_bytes(),
      .attempt = ctx.lease().attempt,
      .pack_bytes = options_.pack_bytes,
      .on_snapshot_read = [&snap] { snap.reset(); },
      .index_cache = IndexCacheRef{IndexCache(), backup.store}};
  ChunkedStats stats;
  auto written = WriteChunked(*store, stored.backup.object_key, dest->compression, dest->key,
                              source, base ? &*base : nullptr, attempt.skipped, stats, ctx);
  if (!written) return Fail(written.error().Context("chunks to " + stored.backup.storage_path));
  attempt.files_ms = attempt.laps.Lap();
  ObjectInfo added = written->put;
  added.size = stats.new_bytes;  // stored_bytes: what this backup added to the store
  auto recorded = Finalize(stored, Snapshot{written->db, taken->snapshot.records},
                           written->manifest, attempt.skipped, &added, ctx);
  if (!recorded) {
    (void)store->Delete(stored.backup.object_key);  // its packs go with the next sweep
    return Fail(recorded.error().Context("record completion"));
  }
  RemoveEarlierAttempts(*store, backup, ctx.lease().attempt);
  spdlog::info(
      "{} backup completed: {} bytes in {} (chunked: {} chunks, {} new, {} bytes stored, manifest "
      "{}; {}), {} records, {} files, sha256 {} (ms: snapshot {}, chunks {}, finalize {})",
      ctx.LogTag(), written->db.size + plan.files_bytes, stored.backup.storage_path, stats.chunks,
      stats.new_chunks, stats.new_bytes, stats.manifest_bytes,
      dest->compression.Name() + (dest->key ? ", sealed" : ""), taken->snapshot.records,
      written->manifest.size(), written->db.sha256.substr(0, 12), attempt.snapshot_ms,
      attempt.files_ms, attempt.laps.Lap());
  // What killed attempts left: swept now that this one is recorded. Only after a retry: a
  // sweep reads every manifest of the collection (~11 MB each per GB of database), and
  // what a deferred delete left goes with the next delete.
  if (ctx.lease().attempt > 1) (void)SweepAfterRemoval(catalog_, *options_.stores, stored.backup);
  return {};
}

Status BackupJob::Run(JobContext& ctx) {
  auto plan = MakePlan(ctx.job());
  if (!plan) return Fail(plan.error());
  if (plan->backup.archived() && IsChunked(plan->backup)) return RunChunked(*plan, ctx);
  if (plan->backup.archived()) return RunArchive(*plan, ctx);
  // A PENDING row owns its paths (the live-path index makes them unique) and only the
  // lease holder may complete it, so whatever lies at them now is a leftover of an
  // earlier, dead attempt and ours to remove.
  BACKUP_TRY(plan->paths.RemovePartials(), "remove leftovers of an earlier attempt");
  BACKUP_TRY(RemoveAll(plan->paths.db()), "remove leftovers of an earlier attempt");
  BACKUP_TRY(RemoveAll(plan->paths.files()), "remove leftovers of an earlier attempt");
  KeepRegularFilesOnly(plan->listing);  // the plain format has no place for the rest
  Attempt attempt(plan->paths, ctx.lease().attempt);
  attempt.skipped = plan->listing.skipped;

  auto snapshot = TakeSnapshot(*plan, attempt, ctx, /*durable=*/true);
  if (!snapshot) return Fail(snapshot.error());
  auto manifest = CopyFiles(*plan, attempt, ctx);
  if (!manifest) return Fail(manifest.error());
  BACKUP_TRY(Finalize(*plan, *snapshot, *manifest, attempt.skipped, nullptr, ctx),
             "record completion");
  attempt.Commit();
  spdlog::info(
      "{} backup completed: {} bytes, {} records, {} files, sha256 {} (ms: snapshot {}, "
      "hash+fsync {}, count {}, files {}, finalize {})",
      ctx.LogTag(), snapshot->digest.size + plan->files_bytes, snapshot->records, manifest->size(),
      snapshot->digest.sha256.substr(0, 12), attempt.snapshot_ms, attempt.hash_ms, attempt.count_ms,
      attempt.files_ms, attempt.laps.Lap());
  return {};
}

}  // namespace backup
