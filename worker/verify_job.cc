#include "worker/verify_job.h"

#include <sys/stat.h>

#include <map>

#include <spdlog/spdlog.h>

#include "backup.pb.h"
#include "common/backup_paths.h"
#include "common/beneath.h"
#include "common/fs.h"
#include "common/sqlite.h"
#include "common/text.h"
#include "common/wire.h"
#include "worker/archive_io.h"
#include "worker/chunked_io.h"
#include "worker/file_tree.h"
#include "worker/job_handler.h"

namespace backup {
namespace fs = std::filesystem;

namespace {

constexpr int kIntegrityLines = 5;

// Hashes `path`, adding the bytes to ctx's progress.
Result<FileDigest> HashWithProgress(const fs::path& path, JobContext& ctx) {
  int64_t reported = 0;
  auto digest = HashFile(path, [&](int64_t done) {
    ctx.AddBytes(done - reported);
    reported = done;
    return !ctx.cancelled();
  });
  if (!digest && ctx.cancelled()) return Fail(Error::Cancelled("cancelled while hashing"));
  return digest;
}

// The first lines `PRAGMA integrity_check` prints, or why it could not run.
std::string IntegrityProblem(const fs::path& db_path) {
  auto db = sql::Database::Open(db_path.string(), {.read_only = true});
  if (!db) return "database cannot be opened: " + db.error().message();
  auto stmt = db->Prepare("PRAGMA integrity_check(" + std::to_string(kIntegrityLines) + ")");
  if (!stmt) return "integrity_check cannot run: " + stmt.error().message();
  std::string lines;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return "integrity_check failed: " + row.error().message();
    if (!*row) break;
    lines += (lines.empty() ? "" : " | ") + stmt->Text(0);
  }
  return lines == "ok" ? "" : "integrity_check failed: " + lines;
}

}  // namespace

namespace {

// Appends the problems of the database file to `problems`.
Status CheckDatabase(const BackupRecord& backup, int64_t db_bytes, JobContext& ctx,
                     std::vector<std::string>& problems) {
  const fs::path db_path = backup.storage_path;
  struct stat st {};
  if (::stat(db_path.c_str(), &st) != 0) {
    problems.push_back("database file " + db_path.string() + " is missing");
    return {};
  }
  if (st.st_size < db_bytes) {
    problems.push_back("database file is truncated: " + std::to_string(st.st_size) + " of " +
                       std::to_string(db_bytes) + " bytes");
  } else if (st.st_size > db_bytes) {
    problems.push_back("database file has " + std::to_string(st.st_size) + " bytes, expected " +
                       std::to_string(db_bytes));
  }
  auto digest = HashWithProgress(db_path, ctx);
  if (!digest) return Fail(digest.error().Context("hash database"));
  if (digest->sha256 != backup.sha256) {
    problems.push_back("database SHA-256 differs from the one recorded at backup (recorded " +
                       backup.sha256.substr(0, 16) + "..., found " + digest->sha256.substr(0, 16) +
                       "...)");
  }
  if (std::string p = IntegrityProblem(db_path); !p.empty()) problems.push_back(p);
  return {};
}

// Appends the problems of the files folder (missing, resized, changed, unexpected files).
Status CheckFiles(const BackupRecord& backup, const std::vector<ManifestEntry>& manifest,
                  JobContext& ctx, std::vector<std::string>& problems) {
  const fs::path dir = BackupPaths(backup.storage_path).files();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    problems.push_back("files folder " + dir.string() + " is missing");
    return {};
  }
  auto pinned = PinnedDir::Root(dir);
  if (!pinned) return Fail(pinned.error().Context("open backup files"));
  auto listed = ListFiles(*pinned);
  if (!listed) return Fail(listed.error().Context("list backup files"));
  for (const std::string& odd : listed->skipped.names) {
    problems.push_back("unexpected non-regular file " + odd);
  }
  std::map<std::string, int64_t> on_disk;
  for (const SourceFile& f : listed->files) on_disk[f.relative.generic_string()] = f.size;
  for (const ManifestEntry& e : manifest) {
    auto it = on_disk.find(e.path);
    if (it == on_disk.end()) {
      problems.push_back("file " + e.path + " is missing");
      continue;
    }
    if (it->second != e.size) {
      problems.push_back("file " + e.path + " has " + std::to_string(it->second) +
                         " bytes, expected " + std::to_string(e.size));
    } else {
      auto in = PinBelow(*pinned, e.path, /*create=*/false);  // any length, no link followed
      if (!in) return Fail(in.error().Context("hash " + ShowName(e.path)));
      auto digest = HashWithProgress(in->path(), ctx);
      if (!digest) return Fail(digest.error().Context("hash " + ShowName(e.path)));
      if (digest->sha256 != e.sha256) problems.push_back("file " + e.path + " SHA-256 differs");
    }
    ctx.AddItems(1);
    on_disk.erase(it);
  }
  for (const auto& [path, size] : on_disk) problems.push_back("unexpected file " + path);
  return {};
}

}  // namespace

Result<std::vector<std::string>> CheckBackup(const BackupRecord& backup,
                                             const std::vector<ManifestEntry>& manifest,
                                             JobContext& ctx) {
  std::vector<std::string> problems;
  int64_t files_bytes = 0;
  for (const ManifestEntry& e : manifest) files_bytes += e.size;
  const int64_t db_bytes = backup.size_bytes - files_bytes;
  ctx.SetTotals(db_bytes + files_bytes, static_cast<int64_t>(manifest.size()));
  ctx.SetPhase("database");
  BACKUP_TRY(CheckDatabase(backup, db_bytes, ctx, problems), "check database");
  if (backup.includes_files) {
    ctx.SetPhase("files");
    BACKUP_TRY(CheckFiles(backup, manifest, ctx, problems), "check files");
  }
  return problems;
}

Result<std::vector<std::string>> CheckArchiveBackup(const BackupRecord& backup,
                                                    const std::vector<ManifestEntry>& manifest,
                                                    const VerifyJobOptions& options, bool quick,
                                                    JobContext& ctx) {
  BackupStore* store = options.stores->Find(backup.store);
  if (store == nullptr) {
    return Fail(Error::FailedPrecondition("backup " + backup.id + " is in store \"" + backup.store +
                                          "\", which this process does not have (--store)"));
  }
  std::vector<std::string> problems;
  if (quick && IsChunked(backup)) {
    ctx.SetPhase("stat");
    return QuickCheckChunked(*store, backup, manifest, options.stores->keys());
  }
  if (quick) {
    ctx.SetPhase("stat");
    auto info = store->Stat(backup.object_key);
    if (!info) return Fail(info.error().Context("stat " + backup.storage_path));
    if (!*info) {
      problems.push_back("archive " + backup.storage_path + " is missing");
    } else if ((*info)->size != backup.stored_bytes) {
      problems.push_back("archive has " + std::to_string((*info)->size) + " bytes, expected " +
                         std::to_string(backup.stored_bytes));
    } else if (!backup.stored_etag.empty() && (*info)->etag != backup.stored_etag) {
      problems.push_back("archive checksum (ETag) is " + (*info)->etag + ", expected " +
                         backup.stored_etag);
    }
    return problems;
  }
  ctx.SetTotals(backup.size_bytes, static_cast<int64_t>(manifest.size()));
  ctx.SetPhase("download");
  const fs::path staging = options.data_root / "staging";
  BACKUP_TRY(CreatePrivateDir(staging), "verify");
  const fs::path db = staging / (ctx.job().id + ".verify.db");
  BACKUP_TRY(RemoveAll(db), "verify");
  ScopedRemove guard(db);
  // A page snapshot of a WAL database is one too: the integrity check's read-only
  // connection leaves its -wal and -shm behind.
  ScopedRemove guard_wal(db.string() + "-wal"), guard_shm(db.string() + "-shm");
  // The files too are written, as a restore writes them, into a scratch folder removed at
  // the end (a chunked backup's reader makes its own): "valid" means "restores".
  const fs::path files = db.string() + ".files";
  BACKUP_TRY(RemoveAll(files), "verify");
  ScopedRemove guard_files(files);
  const bool archive_files = backup.includes_files && !IsChunked(backup);
  if (archive_files) BACKUP_TRY(CreatePrivateDir(files), "verify");
  TreeReport report;
  ArchiveTargets targets{db, archive_files ? std::optional<fs::path>(files) : std::nullopt, 0600};
  targets.report = &report;
  auto found = ReadArchive(*store, backup, manifest, options.stores->keys(), targets, ctx);
  if (!found) return Fail(found.error().Context("read " + backup.storage_path));
  problems = std::move(*found);
  for (const std::string& entry : report.not_restored) {
    problems.push_back("entry " + entry + " (a restore could not make it)");
  }
  if (problems.empty()) {
    ctx.SetPhase("integrity");
    if (std::string p = IntegrityProblem(db); !p.empty()) problems.push_back(p);
  }
  return problems;
}

Status VerifyJob::Run(JobContext& ctx) {
  auto backup = catalog_.GetBackup(ctx.job().backup_id);
  if (!backup) return Fail(backup.error());
  if (backup->state != BackupState::kCompleted) {
    return Fail(Error::FailedPrecondition("backup " + backup->id + " is " +
                                          std::string(ToString(backup->state))));
  }
  auto manifest = catalog_.GetManifest(backup->id);
  if (!manifest) return Fail(manifest.error());
  auto request = ParseParams<collector::VerifyBackupRequest>(ctx.job());
  if (!request) return Fail(request.error());
  auto problems = backup->archived()
                      ? CheckArchiveBackup(*backup, *manifest, options_, request->quick(), ctx)
                      : CheckBackup(*backup, *manifest, ctx);
  if (!problems) return Fail(problems.error());

  std::string error;
  for (const std::string& p : *problems) error += (error.empty() ? "" : "; ") + p;
  error = ValidUtf8(std::move(error));  // a problem may quote a name that is not UTF-8
  const bool valid = problems->empty();
  collector::VerifyBackupResponse result;
  *result.mutable_status() = OkStatus();
  result.set_is_valid(valid);
  result.set_error_message(error);
  BackupRecord verified = *backup;
  verified.last_verified_at = clock_.NowMs() / 1000;
  verified.last_verify_valid = valid;
  verified.last_verify_error = error;
  *result.mutable_backup() = ToProto(verified);
  BACKUP_TRY(
      catalog_.CompleteVerify(ctx.lease(), backup->id, valid, error, result.SerializeAsString()),
      "record verification");
  ctx.MarkRecorded();
  if (valid) {
    spdlog::info("{} verified: valid", ctx.LogTag());
  } else {
    spdlog::warn("{} verified: INVALID: {}", ctx.LogTag(), error);
  }
  return {};
}

}  // namespace backup
