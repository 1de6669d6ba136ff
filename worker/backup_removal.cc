#include "worker/backup_removal.h"

#include <system_error>

#include <spdlog/spdlog.h>

#include "backup.pb.h"
#include "common/backup_paths.h"
#include "common/fs.h"
#include "common/ids.h"
#include "common/names.h"
#include "control/node_routing.h"
#include "worker/archive_io.h"
#include "worker/chunk_sweep.h"

namespace backup {
namespace fs = std::filesystem;
namespace {

// Bytes in `path` (a file or a tree), not following symlinks.
int64_t DiskBytes(const fs::path& path) {
  std::error_code ec;
  auto st = fs::symlink_status(path, ec);
  if (ec || !fs::exists(st)) return 0;
  if (fs::is_regular_file(st)) return static_cast<int64_t>(fs::file_size(path, ec));
  int64_t total = 0;
  if (fs::is_directory(st)) {
    for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (it->is_regular_file(ec) && !it->is_symlink(ec))
        total += static_cast<int64_t>(it->file_size(ec));
    }
  }
  return total;
}

// An archive-format backup: its archive, and whatever an attempt that was killed before it
// could clean up left under its own key (AttemptKey), are removed from its store.
Result<int64_t> RemoveArchive(const StoreSet& stores, const BackupRecord& backup) {
  BackupStore* store = stores.Find(backup.store);
  if (store == nullptr) {
    return Fail(Error::FailedPrecondition("backup " + backup.id + " is in store \"" + backup.store +
                                          "\", which is not configured here"));
  }
  const std::string base = FirstAttemptKey(backup);
  int64_t freed = 0;
  for (int attempt = 1; attempt <= kMaxAttemptsLimit; ++attempt) {
    const std::string key = AttemptKey(base, backup.id, attempt);
    auto info = store->Stat(key);
    if (!info) return Fail(info.error());
    if (!*info) continue;
    BACKUP_TRY(store->Delete(key), "delete " + backup.id);
    freed += (*info)->size;
  }
  spdlog::info("backup={} collection={} deleted from {}, {} bytes freed", backup.id,
               backup.collection.Key(), store->Locate(base), freed);
  return freed;
}

Result<int64_t> RemovePlain(const BackupRecord& backup, const std::vector<fs::path>& roots) {
  const BackupPaths paths(backup.storage_path);
  const fs::path& db = paths.db();
  // Never delete through a path that now leads outside the backup roots.
  auto confined = ConfinePath(db.string(), roots);
  if (!confined || *confined != db) {
    return Fail(
        Error::PermissionDenied("backup path " + db.string() +
                                " no longer resolves inside the backup roots; left as it is"));
  }
  int64_t freed = 0;
  for (const fs::path& p : {db, paths.files()}) {
    int64_t bytes = DiskBytes(p);
    BACKUP_TRY(RemoveAll(p), "delete " + backup.id);
    freed += bytes;
  }
  BACKUP_TRY(paths.RemovePartials(), "delete " + backup.id);
  if (std::error_code ec; fs::is_directory(db.parent_path(), ec)) {
    BACKUP_TRY(FsyncDir(db.parent_path()), "delete " + backup.id);
  }
  spdlog::info("backup={} collection={} deleted, {} bytes freed", backup.id,
               backup.collection.Key(), freed);
  return freed;
}

}  // namespace

Result<int64_t> RemoveBackupFiles(const StoreSet& stores, const std::vector<fs::path>& backup_roots,
                                  const BackupRecord& backup) {
  return backup.archived() ? RemoveArchive(stores, backup) : RemovePlain(backup, backup_roots);
}

Result<int64_t> RemoveBackup(Catalog& catalog, const StoreSet& stores,
                             const std::vector<fs::path>& backup_roots,
                             const std::string& backup_id) {
  auto backup = catalog.BeginDeleteBackup(backup_id);
  if (!backup) return Fail(backup.error());
  auto freed = RemoveBackupFiles(stores, backup_roots, *backup);
  if (!freed) return Fail(freed.error());
  BACKUP_TRY(catalog.FinishDeleteBackup(backup_id), "delete " + backup_id);
  return *freed + SweepAfterRemoval(catalog, stores, *backup);
}

Result<Removal> RemoveHereOrOnItsNode(Catalog& catalog, const RemovalSite& site,
                                      const std::string& backup_id, const std::string& submitted_by,
                                      int64_t now_ms) {
  auto backup = catalog.GetBackup(backup_id);
  if (!backup) return Fail(backup.error());
  if (ReachableFrom(*backup, site.node)) {
    auto freed = RemoveBackup(catalog, site.stores, site.backup_roots, backup_id);
    if (!freed) return Fail(freed.error());
    return Removal{.bytes_freed = *freed};
  }
  auto queued = QueueDeleteOnItsNode(catalog, *backup, submitted_by, now_ms);
  if (!queued) return Fail(queued.error());
  return Removal{.delete_job = queued->id};
}

Result<Job> QueueDeleteOnItsNode(Catalog& catalog, const BackupRecord& backup,
                                 const std::string& submitted_by, int64_t now_ms) {
  collector::DeleteBackupRequest request;
  request.set_backup_id(backup.id);
  Job job;
  job.id = NewJobId();
  job.kind = JobKind::kDelete;
  job.collection = backup.collection;
  job.backup_id = backup.id;
  job.params = request.SerializeAsString();
  job.created_at_ms = now_ms;
  job.submitted_by = submitted_by;
  job.node = ReaderJobNode(backup);
  auto queued = catalog.EnqueueDeleteBackup(job);
  if (!queued) return Fail(queued.error().Context("delete " + backup.id));
  spdlog::info("job={} collection={} backup={} delete queued on node {}", queued->id,
               backup.collection.Key(), backup.id, job.node);
  return queued;
}

}  // namespace backup
