#include "worker/delete_job.h"

#include <optional>

#include <spdlog/spdlog.h>

#include "backup.pb.h"
#include "worker/backup_removal.h"
#include "worker/chunk_sweep.h"

namespace backup {

Status DeleteJob::Run(JobContext& ctx) {
  const Job& job = ctx.job();
  ctx.SetPhase("deleting");
  collector::DeleteBackupResponse result;
  result.mutable_status()->set_code(collector::Status::OK);
  auto backup = catalog_.BeginDeleteBackup(job.backup_id);
  std::optional<BackupRecord> removed;
  if (backup) {
    removed = *backup;
    auto freed = RemoveBackupFiles(*options_.stores, options_.backup_roots, *backup);
    if (!freed) return Fail(freed.error().Context("delete " + job.backup_id));
    result.set_bytes_freed(*freed);
  } else if (backup.error().code() != Code::kNotFound) {
    return Fail(backup.error().Context("delete " + job.backup_id));
  }
  BACKUP_TRY(catalog_.CompleteDeleteBackup(ctx.lease(), job.backup_id, result.SerializeAsString()),
             "record delete");
  ctx.MarkRecorded();
  if (removed) SweepAfterRemoval(catalog_, *options_.stores, *removed);
  spdlog::info("{} backup={} deleted, {} bytes freed", ctx.LogTag(), job.backup_id,
               result.bytes_freed());
  return {};
}

}  // namespace backup
