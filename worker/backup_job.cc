#include "worker/backup_job.h"

#include <chrono>
#include <future>
#include <optional>

#include <spdlog/spdlog.h>

#include "backup.pb.h"
#include "common/backup_paths.h"
#include "common/fs.h"
#include "common/names.h"
#include "common/wire.h"
#include "worker/file_tree.h"
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

}  // namespace

// What the rows say this backup is, and what it will copy.
struct BackupJob::Plan {
  BackupRecord backup;
  CollectionRecord collection;
  BackupPaths paths;
  std::vector<SourceFile> files;  // empty unless the backup includes files
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
  const fs::path final_path = backup->storage_path;
  auto confined = ConfinePath(final_path.string(), options_.backup_roots);
  if (!confined) return Fail(confined.error().Context("backup destination"));
  if (*confined != final_path) {
    return Fail(Error::PermissionDenied("backup destination " + final_path.string() +
                                        " now resolves to " + confined->string()));
  }
  Plan plan{*backup, *collection, BackupPaths(final_path), {}, 0};
  if (backup->includes_files) {
    auto listed = ListFiles(collection->files_path);
    if (!listed) return Fail(listed.error());
    plan.files = std::move(*listed);
    for (const SourceFile& f : plan.files) plan.files_bytes += f.size;
  }
  return plan;
}

Result<BackupJob::Snapshot> BackupJob::TakeSnapshot(const Plan& plan, Attempt& attempt,
                                                    JobContext& ctx) const {
  const fs::path source = plan.collection.db_path;
  const fs::path& final_path = plan.paths.db();
  auto estimate = EstimateSnapshotBytes(source);
  if (!estimate) return Fail(estimate.error().Context("read source " + source.string()));
  const auto items = static_cast<int64_t>(plan.files.size());
  ctx.SetTotals(*estimate + plan.files_bytes, items);
  ctx.SetPhase("snapshot");
  BACKUP_TRY(VacuumInto(source, attempt.partial, ctx, options_.checkpoint_source), "snapshot");
  attempt.snapshot_ms = attempt.laps.Lap();
  // The snapshot is still in the page cache: hash it while the kernel writes it out, so
  // the fsync and the SHA-256 overlap instead of adding up.
  auto synced = std::async(std::launch::async, [&] { return FsyncFile(attempt.partial); });
  auto digest = HashFile(attempt.partial, [&](int64_t) { return !ctx.cancelled(); });
  Status fsynced = synced.get();
  if (!digest) {
    if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled while hashing the snapshot"));
    return Fail(digest.error().Context("hash snapshot"));
  }
  BACKUP_TRY(fsynced, "snapshot");
  ctx.SetTotals(digest->size + plan.files_bytes, items);
  ctx.SetBytesDone(digest->size);
  BACKUP_TRY(RenameNoReplace(attempt.partial, final_path), "snapshot");
  attempt.guard_final.emplace(final_path);
  BACKUP_TRY(FsyncDir(final_path.parent_path()), "snapshot");
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
  auto copied = CopyTree(plan.collection.files_path, plan.files, attempt.files_partial, ctx);
  if (!copied) return Fail(copied.error());
  const fs::path files_final = plan.paths.files();
  BACKUP_TRY(RenameNoReplace(attempt.files_partial, files_final), "files");
  attempt.guard_files_final.emplace(files_final);
  BACKUP_TRY(FsyncDir(files_final.parent_path()), "files");
  attempt.files_ms = attempt.laps.Lap();
  return copied;
}

Status BackupJob::Finalize(const Plan& plan, const Snapshot& snapshot,
                           const std::vector<ManifestEntry>& manifest, JobContext& ctx) const {
  ctx.SetPhase("finalize");
  if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled before completion"));
  BackupRecord done = plan.backup;
  done.size_bytes = snapshot.digest.size + plan.files_bytes;
  done.record_count = snapshot.records;
  done.file_count = static_cast<int64_t>(manifest.size());
  done.sha256 = snapshot.digest.sha256;
  done.completed_at = clock_.NowMs() / 1000;
  done.state = BackupState::kCompleted;
  collector::BackupCollectionResponse result;
  *result.mutable_status() = OkStatus();
  *result.mutable_backup() = ToProto(done);
  result.set_bytes_transferred(done.size_bytes);
  return catalog_.CompleteBackup(ctx.lease(), done, manifest, result.SerializeAsString());
}

Status BackupJob::Run(JobContext& ctx) {
  auto plan = MakePlan(ctx.job());
  if (!plan) return Fail(plan.error());
  // A PENDING row owns its paths (the live-path index makes them unique) and only the
  // lease holder may complete it, so whatever lies at them now is a leftover of an
  // earlier, dead attempt and ours to remove.
  BACKUP_TRY(plan->paths.RemovePartials(), "remove leftovers of an earlier attempt");
  BACKUP_TRY(RemoveAll(plan->paths.db()), "remove leftovers of an earlier attempt");
  BACKUP_TRY(RemoveAll(plan->paths.files()), "remove leftovers of an earlier attempt");
  Attempt attempt(plan->paths, ctx.lease().attempt);
  BACKUP_TRY(CreateDirs(plan->paths.db().parent_path()), "backup destination");

  auto snapshot = TakeSnapshot(*plan, attempt, ctx);
  if (!snapshot) return Fail(snapshot.error());
  auto manifest = CopyFiles(*plan, attempt, ctx);
  if (!manifest) return Fail(manifest.error());
  BACKUP_TRY(Finalize(*plan, *snapshot, *manifest, ctx), "record completion");
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
