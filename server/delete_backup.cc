// DeleteBackup: synchronous. The row is marked DELETING before any file goes, so a row
// never points at a missing file without saying so, and a repeated delete finishes an
// interrupted one.
#include <system_error>

#include <spdlog/spdlog.h>

#include "common/backup_paths.h"
#include "common/fs.h"
#include "common/wire.h"
#include "server/collection_repo_service.h"
#include "server/grpc_status.h"
#include "server/request_checks.h"
#include "server/serve_call.h"
#include "worker/archive_io.h"

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

}  // namespace

Status CollectionRepoService::DoDeleteBackup(const Principal& who,
                                             const collector::DeleteBackupRequest& request,
                                             collector::DeleteBackupResponse& response) {
  if (request.backup_id().empty())
    return Fail(Error::InvalidArgument("delete: backup_id is required"));
  if (request.backup_id().size() > 64) {
    return Fail(Error::InvalidArgument("delete: backup_id \"" + request.backup_id().substr(0, 64) +
                                       "...\" is not a backup id"));
  }
  auto existing = ctx_.catalog->GetBackup(request.backup_id());
  if (!existing) return Fail(existing.error().Context("delete"));
  BACKUP_TRY(Require(who, Role::kAdmin, existing->collection.ns, "DeleteBackup"), "delete");
  auto backup = ctx_.catalog->BeginDeleteBackup(request.backup_id());
  if (!backup) return Fail(backup.error().Context("delete"));
  if (backup->archived()) return DeleteArchive(*backup, response);
  const BackupPaths paths(backup->storage_path);
  const fs::path& db = paths.db();
  // Never delete through a path that now leads outside the backup roots.
  auto confined = ConfinePath(db.string(), ctx_.backup_roots);
  if (!confined || *confined != db) {
    return Fail(
        Error::PermissionDenied("delete: backup path " + db.string() +
                                " no longer resolves inside the backup roots; left as it is"));
  }
  int64_t freed = 0;
  for (const fs::path& p : {db, paths.files()}) {
    int64_t bytes = DiskBytes(p);
    BACKUP_TRY(RemoveAll(p), "delete " + backup->id);
    freed += bytes;
  }
  BACKUP_TRY(paths.RemovePartials(), "delete " + backup->id);
  if (std::error_code ec; fs::is_directory(db.parent_path(), ec)) {
    BACKUP_TRY(FsyncDir(db.parent_path()), "delete " + backup->id);
  }
  BACKUP_TRY(ctx_.catalog->FinishDeleteBackup(backup->id), "delete " + backup->id);
  spdlog::info("backup={} collection={} deleted, {} bytes freed", backup->id,
               backup->collection.Key(), freed);
  *response.mutable_status() = OkStatus();
  response.set_bytes_freed(freed);
  return {};
}

// An archive-format backup: its archive, and whatever an attempt that was killed before it
// could clean up left under its own key (AttemptKey), are removed from its store.
Status CollectionRepoService::DeleteArchive(const BackupRecord& backup,
                                            collector::DeleteBackupResponse& response) {
  BackupStore* store = ctx_.stores->Find(backup.store);
  if (store == nullptr) {
    return Fail(Error::FailedPrecondition("delete: backup " + backup.id + " is in store \"" +
                                          backup.store + "\", which backupd does not have"));
  }
  const std::string base = FirstAttemptKey(backup);
  int64_t freed = 0;
  for (int attempt = 1; attempt <= kMaxAttemptsLimit; ++attempt) {
    const std::string key = AttemptKey(base, backup.id, attempt);
    auto info = store->Stat(key);
    if (!info) return Fail(info.error().Context("delete " + backup.id));
    if (!*info) continue;
    BACKUP_TRY(store->Delete(key), "delete " + backup.id);
    freed += (*info)->size;
  }
  BACKUP_TRY(ctx_.catalog->FinishDeleteBackup(backup.id), "delete " + backup.id);
  spdlog::info("backup={} collection={} deleted from {}, {} bytes freed", backup.id,
               backup.collection.Key(), store->Locate(base), freed);
  *response.mutable_status() = OkStatus();
  response.set_bytes_freed(freed);
  return {};
}

grpc::Status CollectionRepoService::DeleteBackup(grpc::ServerContext* context,
                                                 const collector::DeleteBackupRequest* request,
                                                 collector::DeleteBackupResponse* response) {
  return ServeChange(
      ctx_, *context, "DeleteBackup",
      [&](const Principal& who) { return DoDeleteBackup(who, *request, *response); },
      [&] {
        return AuditFields()
            .Add("backup", request->backup_id())
            .Add("bytes_freed", std::to_string(response->bytes_freed()));
      });
}

}  // namespace backup
