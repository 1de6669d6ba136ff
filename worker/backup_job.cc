#include "worker/backup_job.h"

#include <chrono>
#include <future>
#include <optional>

#include <spdlog/spdlog.h>

#include "backup.pb.h"
#include "common/fs.h"
#include "common/names.h"
#include "common/wire.h"
#include "worker/file_tree.h"
#include "worker/snapshot.h"

namespace backup {
namespace fs = std::filesystem;

std::string PartialPrefix(const fs::path& final_path) {
  return final_path.filename().string() + ".partial-";
}
std::string FilesPartialPrefix(const fs::path& final_path) {
  return final_path.filename().string() + ".files.partial-";
}
fs::path PartialPath(const fs::path& final_path, int attempt) {
  return final_path.parent_path() / (PartialPrefix(final_path) + std::to_string(attempt));
}
fs::path FilesPartialDir(const fs::path& final_path, int attempt) {
  return final_path.parent_path() / (FilesPartialPrefix(final_path) + std::to_string(attempt));
}
fs::path FilesDir(const fs::path& final_path) { return final_path.string() + ".files"; }

Status RemovePartials(const fs::path& final_path) {
  BACKUP_TRY(RemoveAllWithPrefix(final_path.parent_path(), PartialPrefix(final_path)), "remove partials");
  return RemoveAllWithPrefix(final_path.parent_path(), FilesPartialPrefix(final_path));
}

Status BackupJob::Run(JobContext& ctx) {
  const Job& job = ctx.job();
  auto request = ParseParams<collector::BackupCollectionRequest>(job);
  if (!request) return Fail(request.error());
  auto backup = store_.GetBackup(job.backup_id);
  if (!backup) return Fail(backup.error());
  auto collection = store_.GetCollection(job.collection);
  if (!collection) return Fail(collection.error());

  const fs::path final_path = backup->storage_path;
  auto confined = ConfinePath(final_path.string(), options_.backup_roots);
  if (!confined) return Fail(confined.error().Context("backup destination"));
  if (*confined != final_path) {
    return Fail(Error::PermissionDenied("backup destination " + final_path.string() +
                                        " now resolves to " + confined->string()));
  }

  // Every path this job may write. A PENDING row owns its paths (the live-path index
  // makes them unique) and only the lease holder may complete it, so whatever lies at them
  // now is a leftover of an earlier, dead attempt and ours to remove.
  const int attempt = ctx.lease().attempt;
  const fs::path partial = PartialPath(final_path, attempt);
  const fs::path files_final = FilesDir(final_path);
  const fs::path files_partial = FilesPartialDir(final_path, attempt);
  BACKUP_TRY(RemovePartials(final_path), "remove leftovers of an earlier attempt");
  BACKUP_TRY(RemoveAll(final_path), "remove leftovers of an earlier attempt");
  BACKUP_TRY(RemoveAll(files_final), "remove leftovers of an earlier attempt");
  // VACUUM INTO writes its output through a rollback journal of its own. The final names
  // are only guarded once this attempt has put something there.
  ScopedRemove guard_partial(partial), guard_journal(partial.string() + "-journal");
  ScopedRemove guard_files_partial(files_partial);
  std::optional<ScopedRemove> guard_final, guard_files_final;
  BACKUP_TRY(CreateDirs(final_path.parent_path()), "backup destination");

  const fs::path source = collection->db_path;
  auto estimate = EstimateSnapshotBytes(source);
  if (!estimate) return Fail(estimate.error().Context("read source " + source.string()));
  std::vector<SourceFile> files;
  int64_t files_bytes = 0;
  if (request->include_files()) {
    auto listed = ListFiles(collection->files_path);
    if (!listed) return Fail(listed.error());
    files = std::move(*listed);
    for (const SourceFile& f : files) files_bytes += f.size;
  }
  ctx.SetTotals(*estimate + files_bytes, static_cast<int64_t>(files.size()));

  // Where the time goes, for the completion log line.
  using Steady = std::chrono::steady_clock;
  auto mark = Steady::now();
  auto lap = [&mark] {
    auto now = Steady::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - mark).count();
    mark = now;
    return ms;
  };
  ctx.SetPhase("snapshot");
  BACKUP_TRY(VacuumInto(source, partial, ctx, options_.checkpoint_source), "snapshot");
  const auto vacuum_ms = lap();
  // The snapshot is still in the page cache: hash it while the kernel writes it out, so
  // the fsync and the SHA-256 overlap instead of adding up.
  auto synced = std::async(std::launch::async, [&] { return FsyncFile(partial); });
  auto digest = HashFile(partial, [&](int64_t) { return !ctx.cancelled(); });
  Status fsynced = synced.get();
  if (!digest) {
    if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled while hashing the snapshot"));
    return Fail(digest.error().Context("hash snapshot"));
  }
  BACKUP_TRY(fsynced, "snapshot");
  ctx.SetTotals(digest->size + files_bytes, static_cast<int64_t>(files.size()));
  ctx.SetBytesDone(digest->size);
  BACKUP_TRY(RenameNoReplace(partial, final_path), "snapshot");
  guard_final.emplace(final_path);
  BACKUP_TRY(FsyncDir(final_path.parent_path()), "snapshot");
  const auto hash_ms = lap();
  auto records = CountRecords(final_path);
  const auto count_ms = lap();
  if (!records) return Fail(records.error().Context("count records in the snapshot"));

  std::vector<ManifestEntry> manifest;
  if (request->include_files()) {
    ctx.SetPhase("files");
    auto copied = CopyTree(collection->files_path, files, files_partial, ctx);
    if (!copied) return Fail(copied.error());
    manifest = std::move(*copied);
    BACKUP_TRY(RenameNoReplace(files_partial, files_final), "files");
    guard_files_final.emplace(files_final);
    BACKUP_TRY(FsyncDir(final_path.parent_path()), "files");
  }

  const auto files_ms = lap();
  ctx.SetPhase("finalize");
  if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled before completion"));
  BackupRecord done = *backup;
  done.size_bytes = digest->size + files_bytes;
  done.record_count = *records;
  done.file_count = static_cast<int64_t>(manifest.size());
  done.sha256 = digest->sha256;
  done.completed_at = store_.clock().NowMs() / 1000;
  done.state = BackupState::kCompleted;
  collector::BackupCollectionResponse result;
  *result.mutable_status() = OkStatus();
  *result.mutable_backup() = ToProto(done);
  result.set_bytes_transferred(done.size_bytes);
  BACKUP_TRY(store_.CompleteBackup(ctx.lease(), done, manifest, result.SerializeAsString()),
             "record completion");
  guard_final->Release();
  if (guard_files_final) guard_files_final->Release();
  spdlog::info(
      "{} backup completed: {} bytes, {} records, {} files, sha256 {} (ms: snapshot {}, "
      "hash+fsync {}, count {}, files {}, finalize {})",
      ctx.LogTag(), done.size_bytes, done.record_count, done.file_count, done.sha256.substr(0, 12),
      vacuum_ms, hash_ms, count_ms, files_ms, lap());
  return {};
}

}  // namespace backup
