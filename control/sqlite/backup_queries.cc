// Backup rows: enqueue (with the job, atomically), read, list, complete.
#include <string>

#include "control/json_map.h"
#include "control/sqlite/scope_filter.h"
#include "control/sqlite/sqlite_control_store.h"

namespace backup {
namespace {

constexpr std::string_view kInsertBackup = R"sql(
INSERT INTO backups (backup_id, collection_namespace, collection_name, timestamp, size_bytes,
                     record_count, file_count, includes_files, storage_path, storage_type,
                     metadata, created_at, state, job_id, created_at_ms, store, object_key,
                     compression, key_id, node)
VALUES (?1, ?2, ?3, ?4, 0, 0, 0, ?5, ?6, ?7, ?8, ?4, 'PENDING', ?9, ?10, ?11, ?12, ?13, ?14,
        ?15))sql";

constexpr std::string_view kSelectBackupColumns = R"sql(
SELECT backup_id, collection_namespace, collection_name, timestamp, size_bytes, record_count,
       file_count, includes_files, storage_path, storage_type, metadata, state, sha256,
       completed_at, job_id, created_at_ms, last_verified_at, last_verify_valid, last_verify_error,
       db_mode, store, object_key, compression, key_id, stored_bytes, stored_etag, db_bytes, node
FROM backups)sql";

// ListBackups' WHERE clause is assembled from these fixed fragments, only the ones a
// query needs, so SQLite can use the matching index ("?1 = '' OR ..." would defeat it).
// Values are always bound: ?1 namespace, ?2 name, ?3 since.
constexpr std::string_view kWhereSince = " WHERE timestamp >= ?3";
constexpr std::string_view kAndNamespace = " AND collection_namespace = ?1";
constexpr std::string_view kAndName = " AND collection_name = ?2";

constexpr std::string_view kCompleteBackup = R"sql(
UPDATE backups SET state = 'COMPLETED', size_bytes = ?2, record_count = ?3, file_count = ?4,
                   sha256 = ?5, completed_at = ?6, db_mode = ?7, stored_bytes = ?8,
                   stored_etag = ?9, db_bytes = ?10, object_key = ?11, storage_path = ?12
WHERE backup_id = ?1 AND state = 'PENDING')sql";

constexpr std::string_view kInsertManifest =
    "INSERT INTO backup_files (backup_id, path, size, sha256, mode) VALUES (?1, ?2, ?3, ?4, ?5)";

}  // namespace

Status SqliteControlStore::EnqueueBackup(const Job& job, const BackupRecord& backup) {
  auto work = [&]() -> Status {
    BACKUP_TRY(InsertJob(job), "enqueue backup: insert job");
    auto inserted = db_.Run(
        kInsertBackup,
        {backup.id, backup.collection.ns, backup.collection.name, backup.timestamp,
         static_cast<int64_t>(backup.includes_files), backup.storage_path, backup.storage_type,
         EncodeJsonMap(backup.metadata), backup.job_id, backup.created_at_ms, backup.store,
         backup.object_key, backup.compression, backup.key_id, backup.node});
    if (!inserted && inserted.error().code() == Code::kAlreadyExists) {
      return Fail(Error::AlreadyExists("backup destination " + backup.storage_path +
                                       " is already used by another backup"));
    }
    if (!inserted) return Fail(inserted.error().Context("enqueue backup: insert backup"));
    return {};
  };
  BACKUP_TRY(GroupCommit(work), "enqueue backup");
  NotifyChange();
  return {};
}

Result<std::vector<BackupRecord>> SqliteControlStore::ReadBackups(sql::Statement& s) {
  std::vector<BackupRecord> out;
  for (;;) {
    auto row = s.Step();
    if (!row) return Fail(row.error().Context("read backups"));
    if (!*row) break;
    BackupRecord b;
    b.id = s.Text(0);
    b.collection = {s.Text(1), s.Text(2)};
    b.timestamp = s.Int(3);
    b.size_bytes = s.Int(4);
    b.record_count = s.Int(5);
    b.file_count = s.Int(6);
    b.includes_files = s.Int(7) != 0;
    b.storage_path = s.Text(8);
    b.storage_type = s.Text(9);
    auto metadata = DecodeJsonMap(s.Text(10));
    if (!metadata) return Fail(metadata.error());
    b.metadata = std::move(*metadata);
    b.state = BackupStateFromString(s.Text(11)).value_or(BackupState::kFailed);
    b.sha256 = s.Text(12);
    b.completed_at = s.Int(13);
    b.job_id = s.Text(14);
    b.created_at_ms = s.Int(15);
    b.last_verified_at = s.Int(16);
    b.last_verify_valid = s.Int(17) != 0;
    b.last_verify_error = s.Text(18);
    b.db_mode = static_cast<int>(s.Int(19));
    b.store = s.Text(20);
    b.object_key = s.Text(21);
    b.compression = s.Text(22);
    b.key_id = s.Text(23);
    b.stored_bytes = s.Int(24);
    b.stored_etag = s.Text(25);
    b.db_bytes = s.Int(26);
    b.node = s.Text(27);
    out.push_back(std::move(b));
  }
  return out;
}

Result<BackupRecord> SqliteControlStore::GetBackup(const std::string& backup_id) {
  std::lock_guard lock(mu_);
  auto stmt = db_.Prepare(std::string(kSelectBackupColumns) + " WHERE backup_id = ?1");
  if (!stmt) return Fail(stmt.error());
  stmt->Bind({backup_id});
  auto rows = ReadBackups(*stmt);
  if (!rows) return Fail(rows.error());
  if (rows->empty()) return Fail(Error::NotFound("backup " + backup_id + " not found"));
  return std::move(rows->front());
}

Result<BackupList> SqliteControlStore::ListBackups(const BackupQuery& q) {
  std::string ns = q.collection ? q.collection->ns : q.ns;
  std::string name = q.collection ? q.collection->name : "";
  std::string where(kWhereSince);
  if (!ns.empty()) where += kAndNamespace;
  if (!name.empty()) where += kAndName;
  where += ScopeFilter("collection_namespace", q.namespace_globs.size(), 8);
  std::lock_guard lock(mu_);
  BackupList list;
  auto count_stmt = db_.Prepare("SELECT count(*) FROM backups" + where);
  if (!count_stmt) return Fail(count_stmt.error());
  count_stmt->Bind({ns, name, q.since_timestamp});
  BindScope(*count_stmt, q.namespace_globs, 8);
  auto counted = count_stmt->Step();
  if (!counted) return Fail(counted.error().Context("count backups"));
  list.total_count = *counted ? count_stmt->Int(0) : 0;
  // Keyset paging: (timestamp, created_at_ms, backup_id) is the listing order, and a
  // page starts after the previous page's last row.
  const std::string after =
      q.after ? " AND (timestamp, created_at_ms, backup_id) < (?5, ?6, ?7)" : "";
  auto stmt = db_.Prepare(std::string(kSelectBackupColumns) + where + after +
                          " ORDER BY timestamp DESC, created_at_ms DESC, backup_id DESC LIMIT ?4");
  if (!stmt) return Fail(stmt.error());
  stmt->Bind({ns, name, q.since_timestamp, static_cast<int64_t>(q.limit > 0 ? q.limit : -1)});
  if (q.after) {
    stmt->BindAt(5, q.after->timestamp);
    stmt->BindAt(6, q.after->created_at_ms);
    stmt->BindAt(7, std::string_view(q.after->id));
  }
  BindScope(*stmt, q.namespace_globs, 8);
  auto rows = ReadBackups(*stmt);
  if (!rows) return Fail(rows.error());
  list.backups = std::move(*rows);
  return list;
}

Result<std::vector<ManifestEntry>> SqliteControlStore::GetManifest(const std::string& backup_id) {
  std::lock_guard lock(mu_);
  auto stmt = db_.Prepare(
      "SELECT path, size, sha256, mode FROM backup_files WHERE backup_id = ?1 ORDER BY path");
  if (!stmt) return Fail(stmt.error());
  stmt->Bind({backup_id});
  std::vector<ManifestEntry> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Fail(row.error().Context("read manifest"));
    if (!*row) break;
    out.push_back({stmt->Text(0), stmt->Int(1), stmt->Text(2), static_cast<int>(stmt->Int(3))});
  }
  return out;
}

Status SqliteControlStore::CompleteBackup(const Lease& lease, const BackupRecord& b,
                                          const std::vector<ManifestEntry>& manifest,
                                          const std::string& result) {
  auto complete_row = [&]() -> Status {
    BACKUP_TRY(
        db_.Run(kCompleteBackup, {b.id, b.size_bytes, b.record_count, b.file_count, b.sha256,
                                  b.completed_at, static_cast<int64_t>(b.db_mode), b.stored_bytes,
                                  b.stored_etag, b.db_bytes, b.object_key, b.storage_path}),
        "backup row");
    if (db_.Changes() != 1) {
      return Fail(Error::Aborted("backup " + b.id + " is no longer pending"));
    }
    auto insert = db_.Prepare(kInsertManifest);
    if (!insert) return Fail(insert.error());
    for (const ManifestEntry& e : manifest) {
      // One prepared statement reused for every row: manifests can hold many files.
      BACKUP_TRY(insert->Bind({b.id, e.path, e.size, e.sha256, static_cast<int64_t>(e.mode)}).Run(),
                 "manifest");
      insert->Reset();
    }
    return {};
  };
  return SucceedJob(lease, "complete backup", result, std::pair{b.size_bytes, b.file_count},
                    complete_row);
}

}  // namespace backup
