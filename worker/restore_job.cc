#include "worker/restore_job.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <optional>
#include <system_error>

#include <spdlog/spdlog.h>

#include "backup.pb.h"
#include "common/backup_paths.h"
#include "common/beneath.h"
#include "common/fs.h"
#include "common/sqlite.h"
#include "common/text.h"
#include "worker/archive_io.h"
#include "worker/job_handler.h"
#include "worker/snapshot.h"

namespace backup {
namespace fs = std::filesystem;

namespace {

// Every name a restore touches, through the destination's folders pinned below the data
// root (beneath.h), so a link put in place of a folder cannot turn the restore's writes
// elsewhere. `db_display` and `files_display` are the same places as the registry names them.
struct RestorePaths {
  fs::path db;          // the collection database
  fs::path files;       // the collection's files folder
  fs::path temp_db;     // <db>.restoring-<job>
  fs::path temp_files;  // <files>.restoring-<job>
  fs::path old_files;   // <files>.old-<job>
  fs::path db_display;
  fs::path files_display;
  std::vector<PinnedDir> pins;  // keep the folders above pinned while the paths are in use
};

// Pins the destination's folders (made 0755 when missing, as CreateCollection makes them)
// and checks what is there: the database and its companions absent or regular files, the
// files folder absent or a real folder.
Result<RestorePaths> PinDestination(const fs::path& db, const fs::path& files,
                                    const fs::path& data_root, const std::string& job_id) {
  auto pinned_db = PinParent(db, {data_root}, true, 0755);
  if (!pinned_db) return Fail(pinned_db.error().Context("restore destination"));
  BACKUP_TRY(RequireSafeDatabase(pinned_db->dir, pinned_db->name, true), "restore destination");
  auto pinned_files = PinParent(files, {data_root}, true, 0755);
  if (!pinned_files) return Fail(pinned_files.error().Context("restore destination"));
  auto st = pinned_files->dir.LstatIn(pinned_files->name);
  if (!st) return Fail(st.error());
  if (*st && !S_ISDIR((*st)->st_mode)) {
    return Fail(Error::PermissionDenied("restore destination " + files.string() +
                                        " is not a folder (a link?); refusing to replace it"));
  }
  const fs::path d = pinned_db->path(), f = pinned_files->path();
  return RestorePaths{d,
                      f,
                      d.string() + ".restoring-" + job_id,
                      f.string() + ".restoring-" + job_id,
                      f.string() + ".old-" + job_id,
                      db,
                      files,
                      {pinned_db->dir, pinned_files->dir}};
}

bool Exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(p, ec));
}

Status RemoveDbFiles(const fs::path& db) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    BACKUP_TRY(RemoveAll(db.string() + suffix), "remove " + db.string() + suffix);
  }
  return {};
}

Result<int64_t> PageSize(const fs::path& db) {
  auto conn = sql::Database::Open(db.string(), {.read_only = true});
  if (!conn) return Fail(conn.error());
  return conn->QueryInt("PRAGMA page_size");
}

// Checks the copy and gives it the destination's page size (the online backup API cannot
// change the page size of a WAL destination) and the journal mode of the backup's source
// (WAL, or a rollback journal: DELETE). Closes it before returning.
Status ConditionCopy(const BackupRecord& backup, const RestorePaths& p, bool dest_exists) {
  // An archived snapshot has the source's journal mode in its header; a plain-format one
  // (VACUUM INTO, which writes rollback-journal copies) does not say: WAL, as always.
  const bool wal = !backup.archived() || sql::HeaderSaysWal(p.temp_db.string());
  auto db = sql::Database::Open(p.temp_db.string(), {.create = false});
  if (!db) return Fail(db.error().Context("open"));
  {
    auto check = db->Prepare("PRAGMA quick_check");
    if (!check || !check->Step().value_or(false) || check->Text(0) != "ok") {
      return Fail(Error::DataLoss("backup " + backup.id +
                                  " fails quick_check; the destination was not touched"));
    }
  }
  if (dest_exists) {
    auto want = PageSize(p.db);
    auto have = db->QueryInt("PRAGMA page_size");
    if (want && have && *want != *have) {
      BACKUP_TRY(db->Exec("PRAGMA journal_mode=DELETE; PRAGMA page_size=" + std::to_string(*want) +
                          "; VACUUM;"),
                 "match the destination's page size");
    }
  }
  return db->Exec(wal ? "PRAGMA journal_mode=WAL" : "PRAGMA journal_mode=DELETE");
}

// Copies the backup database to `temp`, checking its SHA-256 on the way, conditions and
// fsyncs it.
Status PrepareDatabase(const BackupRecord& backup, const RestorePaths& p, bool dest_exists,
                       JobContext& ctx) {
  int64_t reported = 0;
  auto digest = CopyFileHashed(
      backup.storage_path, p.temp_db,
      [&](int64_t done) {
        ctx.AddBytes(done - reported);
        reported = done;
        return !ctx.cancelled();
      },
      static_cast<mode_t>(backup.db_mode));
  if (!digest) {
    if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled while copying the database"));
    return Fail(digest.error().Context("copy backup database"));
  }
  if (digest->sha256 != backup.sha256) {
    return Fail(
        Error::DataLoss("backup " + backup.id +
                        " is corrupt: its database SHA-256 differs "
                        "from the one recorded at backup; the destination was not touched"));
  }
  BACKUP_TRY(ConditionCopy(backup, p, dest_exists), "restored copy");
  return FsyncFile(p.temp_db);
}

// Copies the backup's files into `temp_files`, each checked against the manifest.
Status PrepareFiles(const BackupRecord& backup, const std::vector<ManifestEntry>& manifest,
                    const RestorePaths& p, JobContext& ctx) {
  const fs::path src = BackupPaths(backup.storage_path).files();
  BACKUP_TRY(CreateDirs(p.temp_files), "restore files");
  auto to_root = PinnedDir::Root(p.temp_files);
  if (!to_root) return Fail(to_root.error().Context("restore files"));
  FolderPins to(std::move(*to_root), /*create=*/true, kRestoredFolderMode);
  std::optional<FolderPins> from;
  if (!manifest.empty()) {
    auto pinned = PinnedDir::Root(src);
    if (!pinned && pinned.error().code() == Code::kNotFound) {
      return Fail(Error::DataLoss("backup " + backup.id + " is missing its files folder"));
    }
    if (!pinned) return Fail(pinned.error().Context("restore files"));
    from.emplace(std::move(*pinned), /*create=*/false);
  }
  for (const ManifestEntry& e : manifest) {
    if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled while copying files"));
    // Both ends through their folders' descriptors: a path of any length, no link followed.
    auto source = from->Pin(e.path);
    if (!source && source.error().code() == Code::kNotFound) {
      return Fail(Error::DataLoss("backup " + backup.id + " is missing file " + ShowName(e.path)));
    }
    if (!source) return Fail(source.error().Context("restore files"));
    auto target = to.Pin(e.path);
    if (!target) return Fail(target.error().Context("restore files"));
    int64_t reported = 0;
    auto digest = CopyFileHashed(
        source->path(), target->path(),
        [&](int64_t done) {
          ctx.AddBytes(done - reported);
          reported = done;
          return !ctx.cancelled();
        },
        static_cast<mode_t>(e.mode & 0777));  // no setuid/setgid for the service's owner
    if (!digest) {
      if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled while copying files"));
      if (digest.error().code() == Code::kNotFound) {
        return Fail(
            Error::DataLoss("backup " + backup.id + " is missing file " + ShowName(e.path)));
      }
      return Fail(digest.error().Context("restore files"));
    }
    if (digest->sha256 != e.sha256) {
      return Fail(Error::DataLoss("backup " + backup.id + " file " + ShowName(e.path) +
                                  " differs from its manifest; the destination was not touched"));
    }
    ctx.AddItems(1);
  }
  return SyncFilesystem(p.temp_files);
}

// Streams an archive-format backup into the temporary names (restore step 1).
Status PrepareFromArchive(const BackupRecord& backup, const std::vector<ManifestEntry>& manifest,
                          const RestorePaths& p, bool dest_exists, const StoreSet& stores,
                          TreeReport& report, JobContext& ctx) {
  BackupStore* store = stores.Find(backup.store);
  if (store == nullptr) {
    return Fail(Error::FailedPrecondition("backup " + backup.id + " is in store \"" + backup.store +
                                          "\", which this process does not have (--store)"));
  }
  if (backup.includes_files) BACKUP_TRY(CreateDirs(p.temp_files), "restore files");
  const ArchiveTargets targets{
      p.temp_db, backup.includes_files ? std::optional<fs::path>(p.temp_files) : std::nullopt,
      backup.db_mode, /*check_chunk_ids=*/false, &report};
  const auto started = std::chrono::steady_clock::now();
  auto ms_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 t)
        .count();
  };
  auto problems = ReadArchive(*store, backup, manifest, stores.keys(), targets, ctx);
  const int64_t read_ms = ms_since(started);
  if (!problems) return Fail(problems.error().Context("read " + backup.storage_path));
  if (!problems->empty()) {
    std::string all;
    for (const std::string& problem : *problems) all += (all.empty() ? "" : "; ") + problem;
    return Fail(Error::DataLoss("backup " + backup.id + " is corrupt: " + all +
                                "; the destination was not touched"));
  }
  auto step = std::chrono::steady_clock::now();
  BACKUP_TRY(ConditionCopy(backup, p, dest_exists), "restored copy");
  const int64_t check_ms = ms_since(step);
  step = std::chrono::steady_clock::now();
  BACKUP_TRY(FsyncFile(p.temp_db), "restored copy");
  if (backup.includes_files) BACKUP_TRY(SyncFilesystem(p.temp_files), "restore files");
  spdlog::info("{} staged from {} (ms: read {}, quick_check {}, fsync {})", ctx.LogTag(),
               backup.storage_path, read_ms, check_ms, ms_since(step));
  return {};
}

// Puts the prepared database in place (see the header). Idempotent: a retry after a
// crash at any point finishes it.
Status SwapDatabase(const RestorePaths& p, int lock_wait_ms) {
  if (!Exists(p.temp_db)) return {};  // swapped by an earlier attempt
  if (Exists(p.db)) {
    auto dest =
        sql::Database::Open(p.db.string(), {.create = false, .busy_timeout_ms = lock_wait_ms});
    if (!dest) return Fail(dest.error().Context("open destination"));
    BACKUP_TRY(dest->Exec("PRAGMA synchronous=FULL"), "open destination");
    auto src = sql::Database::Open(p.temp_db.string(), {.read_only = true});
    if (!src) return Fail(src.error().Context("open restored copy"));
    sqlite3_backup* b = sqlite3_backup_init(dest->raw(), "main", src->raw(), "main");
    if (b == nullptr)
      return Fail(sql::ErrorFromSqlite(sqlite3_errcode(dest->raw()), "restore into destination",
                                       dest->raw()));
    int rc = sqlite3_backup_step(b, -1);
    int finish = sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE)
      return Fail(sql::ErrorFromSqlite(rc, "restore into destination", dest->raw()));
    if (finish != SQLITE_OK)
      return Fail(sql::ErrorFromSqlite(finish, "restore into destination", dest->raw()));
    return RemoveDbFiles(p.temp_db);
  }
  // No database there: whatever -wal/-shm lies at that name is an orphan and must not be
  // replayed onto the new file.
  BACKUP_TRY(RemoveDbFiles(p.db), "clear orphaned journal files");
  std::error_code ec;
  fs::rename(p.temp_db, p.db, ec);
  if (ec) return Fail(Error::FromErrno(ec.value(), "rename restored database into place"));
  BACKUP_TRY(RemoveDbFiles(p.temp_db), "remove restored copy journals");
  return FsyncDir(p.db.parent_path());
}

// Puts the restored files folder in place, keeping the old one (an empty folder when
// there was none) at `old_files` until the database is swapped, so it can be put back.
Status SwapFiles(const RestorePaths& p) {
  if (!Exists(p.temp_files)) return {};  // no files in the backup, or swapped already
  std::error_code ec;
  if (!Exists(p.old_files)) {
    if (Exists(p.files)) {
      fs::rename(p.files, p.old_files, ec);
      if (ec) return Fail(Error::FromErrno(ec.value(), "move the old files folder aside"));
    } else {
      BACKUP_TRY(CreatePrivateDir(p.old_files), "files folder");
    }
  }
  BACKUP_TRY(RemoveAll(p.files), "files folder");  // only a partial leftover can be here
  fs::rename(p.temp_files, p.files, ec);
  if (ec) return Fail(Error::FromErrno(ec.value(), "rename restored files into place"));
  return FsyncDir(p.files.parent_path());
}

// Undoes SwapFiles: the old files folder goes back where it was.
Status RollBackFiles(const RestorePaths& p) {
  if (!Exists(p.old_files)) return {};
  BACKUP_TRY(RemoveAll(p.files), "remove the restored files folder");
  std::error_code ec;
  fs::rename(p.old_files, p.files, ec);
  if (ec) return Fail(Error::FromErrno(ec.value(), "put the old files folder back"));
  return FsyncDir(p.files.parent_path());
}

// "collection.db.restoring-job-1a2b-wal" -> "job-1a2b"; "" when not a restore leftover.
std::string LeftoverJobId(const std::string& name) {
  for (const std::string marker : {".restoring-", ".old-"}) {
    auto at = name.find(marker);
    if (at == std::string::npos) continue;
    std::string rest = name.substr(at + marker.size());
    return rest.substr(0, rest.find('-', 4));  // "job-" + hex, cut before "-wal"/"-shm"
  }
  return "";
}

// After a failed restore into a new collection: the folders the plan made for it, if they
// are still empty (rmdir(2) removes nothing else and does not follow a link).
void RemoveEmptyFolders(const RestorePaths& p) {
  ::rmdir(p.files_display.c_str());
  ::rmdir(p.db_display.parent_path().c_str());
}

}  // namespace

Status SweepRestoreLeftovers(JobQueue& jobs, Catalog& catalog, const DataLayout& layout) {
  std::error_code ec;
  for (const fs::path& root : {layout.root() / "collections", layout.root() / "files"}) {
    // Leftovers sit beside a collection: <root>/<ns>/<name>... at depth 2 or 3.
    for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (it.depth() > 2) {
        it.disable_recursion_pending();
        continue;
      }
      const std::string job_id = LeftoverJobId(it->path().filename().string());
      if (job_id.empty()) continue;
      auto job = jobs.GetJob(job_id);
      if (job && !IsTerminal(job->state)) continue;
      auto intent = catalog.HasRestoreIntent(job_id);
      if (intent && *intent) continue;
      it.disable_recursion_pending();
      spdlog::info("job={} removing restore leftover {}", job_id, it->path().string());
      BACKUP_TRY(RemoveAll(it->path()), "sweep restore leftovers");
    }
  }
  return {};
}

// What the rows say this restore is: the backup, where it goes, and what is there now.
struct RestoreJob::Plan {
  BackupRecord backup;
  std::vector<ManifestEntry> manifest;
  std::optional<CollectionRecord> existing;  // the destination's registry row, if any
  RestorePaths paths;
  bool overwrite = false;
  bool intent = false;  // recorded by an earlier attempt: only roll forward
  // What the files' metadata could not be given back as (filled by Stage).
  mutable TreeReport tree_report;
};

Result<RestoreJob::Plan> RestoreJob::MakePlan(const Job& job) const {
  auto request = ParseParams<collector::RestoreBackupRequest>(job);
  if (!request) return Fail(request.error());
  auto backup = catalog_.GetBackup(job.backup_id);
  if (!backup) return Fail(backup.error());
  auto manifest = catalog_.GetManifest(backup->id);
  if (!manifest) return Fail(manifest.error());
  auto intent = catalog_.HasRestoreIntent(job.id);
  if (!intent) return Fail(intent.error());
  auto existing = catalog_.GetCollection(job.collection);
  if (!existing && existing.error().code() != Code::kNotFound) return Fail(existing.error());
  std::optional<CollectionRecord> found;
  if (existing) found = std::move(*existing);
  auto paths = PinDestination(
      found ? fs::path(found->db_path) : layout_.CollectionDb(job.collection),
      found ? fs::path(found->files_path) : layout_.CollectionFilesDir(job.collection),
      layout_.root(), job.id);
  if (!paths) return Fail(paths.error());
  return Plan{std::move(*backup), std::move(*manifest), std::move(found),
              std::move(*paths),  request->overwrite(), *intent};
}

Status RestoreJob::Stage(const Plan& plan, JobContext& ctx) const {
  const RestorePaths& p = plan.paths;
  const BackupRecord& backup = plan.backup;
  if (backup.state != BackupState::kCompleted) {
    return Fail(Error::FailedPrecondition("backup " + backup.id + " is " +
                                          std::string(ToString(backup.state))));
  }
  if (!plan.overwrite && (plan.existing || Exists(p.db))) {
    return Fail(Error::AlreadyExists("collection " + ctx.job().collection.Key() +
                                     " already exists; restore with overwrite to replace it"));
  }
  BACKUP_TRY(RemoveDbFiles(p.temp_db), "remove leftovers of an earlier attempt");
  BACKUP_TRY(RemoveAll(p.temp_files), "remove leftovers of an earlier attempt");
  ScopedRemove guard_db(p.temp_db), guard_files(p.temp_files);
  BACKUP_TRY(CreateDirs(p.db.parent_path()), "restore");
  BACKUP_TRY(CreateDirs(p.files.parent_path()), "restore");
  ctx.SetTotals(backup.size_bytes, static_cast<int64_t>(plan.manifest.size()));

  ctx.SetPhase("copy");
  if (backup.archived()) {
    BACKUP_TRY(PrepareFromArchive(backup, plan.manifest, p, Exists(p.db), *options_.stores,
                                  plan.tree_report, ctx),
               "restore");
  } else {
    BACKUP_TRY(PrepareDatabase(backup, p, Exists(p.db), ctx), "restore");
    if (backup.includes_files) {
      ctx.SetPhase("files");
      BACKUP_TRY(PrepareFiles(backup, plan.manifest, p, ctx), "restore");
    }
  }
  BACKUP_TRY(FsyncDir(p.db.parent_path()), "restore");
  if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled before the swap"));
  BACKUP_TRY(catalog_.RecordRestoreIntent(ctx.lease()), "restore");
  guard_db.Release();
  guard_files.Release();
  return {};
}

void RestoreJob::CopySourceLabels(const CollectionName& source, CollectionRecord& record) const {
  auto found = catalog_.GetCollection(source);
  if (!found) return;
  for (const auto& [key, value] : found->labels) {
    if (key != "restored_from_backup" && key != "original_collection" &&
        key != "backup_timestamp") {
      record.labels[key] = value;
    }
  }
}

Status RestoreJob::Register(const Plan& plan, JobContext& ctx) const {
  const Job& job = ctx.job();
  auto records = CountRecords(plan.paths.db);
  if (!records) return Fail(records.error().Context("count restored records"));
  CollectionRecord record = plan.existing.value_or(CollectionRecord{});
  record.name = job.collection;
  record.node = job.node;  // a new collection lives where its restore ran
  record.db_path = plan.paths.db_display.string();
  record.files_path = plan.paths.files_display.string();
  // A new collection takes the source's labels (as the source has them now, when it is
  // still registered), beside the restore's own.
  if (!plan.existing) CopySourceLabels(plan.backup.collection, record);
  record.labels["restored_from_backup"] = plan.backup.id;
  record.labels["original_collection"] = plan.backup.collection.Key();
  record.labels["backup_timestamp"] = std::to_string(plan.backup.timestamp);
  collector::RestoreBackupResponse result;
  result.mutable_status()->set_code(collector::Status::OK);
  result.set_collection_id(job.collection.Key());
  result.set_records_restored(*records);
  result.set_files_restored(plan.backup.includes_files ? static_cast<int64_t>(plan.manifest.size())
                                                       : 0);
  result.set_owners_not_restored(plan.tree_report.owners_not_restored);
  for (const std::string& e : plan.tree_report.not_restored) result.add_entries_not_restored(e);
  if (plan.tree_report.owners_not_restored > 0) {
    spdlog::info(
        "{} {} entries keep the service's owner (setuid/setgid dropped): it is not "
        "root or may not give them theirs",
        ctx.LogTag(), plan.tree_report.owners_not_restored);
  }
  BACKUP_TRY(catalog_.CompleteRestore(ctx.lease(), record, result.SerializeAsString()),
             "record restore");
  ctx.MarkRecorded();
  spdlog::info("{} restored from {}: {} records, {} files", ctx.LogTag(), plan.backup.id, *records,
               result.files_restored());
  return {};
}

Status RestoreJob::Swap(const Plan& plan, JobContext& ctx) const {
  ctx.SetPhase("swap");
  BACKUP_TRY(SwapFiles(plan.paths), "restore files");
  BACKUP_TRY(SwapDatabase(plan.paths, options_.lock_wait_ms), "restore database");
  // The database is replaced: the restore is never undone now, so the old files go before
  // the job is recorded as ended (a client that sees it end finds nothing left behind).
  if (auto removed = RemoveAll(plan.paths.old_files); !removed) {
    spdlog::warn("{} restored; the old files folder stays at {}: {}", ctx.LogTag(),
                 plan.paths.old_files.string(), removed.error().message());
  }
  return Register(plan, ctx);
}

Status RestoreJob::GiveUp(const Plan& plan, JobContext& ctx, const Error& why) const {
  const RestorePaths& p = plan.paths;
  spdlog::error("{} giving up on attempt {} of {}: {}; putting the old collection back",
                ctx.LogTag(), ctx.lease().attempt, ctx.job().max_attempts, why.message());
  BACKUP_TRY(RollBackFiles(p), "give up restore");
  BACKUP_TRY(RemoveDbFiles(p.temp_db), "give up restore");
  BACKUP_TRY(RemoveAll(p.temp_files), "give up restore");
  BACKUP_TRY(catalog_.AbandonRestoreIntent(ctx.lease()), "give up restore");
  if (!plan.existing) RemoveEmptyFolders(p);
  return Fail(why.Context("restore gave up after " + std::to_string(ctx.lease().attempt) +
                          " attempts; the destination keeps its old collection"));
}

Status RestoreJob::Run(JobContext& ctx) {
  auto plan = MakePlan(ctx.job());
  if (!plan) return Fail(plan.error());
  if (!plan->intent) {
    if (auto staged = Stage(*plan, ctx); !staged) {
      if (!plan->existing) RemoveEmptyFolders(plan->paths);
      return staged;
    }
  }
  auto swapped = Swap(*plan, ctx);
  const bool last_attempt = ctx.lease().attempt >= ctx.job().max_attempts;
  // Once the database is replaced only the registration is left: retried, never undone.
  if (swapped || !last_attempt || !Exists(plan->paths.temp_db) ||
      ctx.stop_reason() != StopReason::kNone) {
    return swapped;
  }
  return GiveUp(*plan, ctx, swapped.error());
}

}  // namespace backup
