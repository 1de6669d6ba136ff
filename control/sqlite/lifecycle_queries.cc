// Jobs that read an existing backup (restore, verify), their completion, the restore
// journal, and deletion of backups.
#include <string>

#include "control/sqlite/sqlite_control_store.h"

namespace backup {
namespace {

constexpr std::string_view kBackupState = "SELECT state FROM backups WHERE backup_id = ?1";

constexpr std::string_view kActiveJobsOfBackup = R"sql(
SELECT count(*) FROM jobs
WHERE backup_id = ?1 AND state IN ('QUEUED', 'RUNNING') AND kind != 'DELETE')sql";

// A DELETE of the backup that is queued or running.
constexpr std::string_view kActiveDeleteOfBackup = R"sql(
SELECT job_id FROM jobs
WHERE backup_id = ?1 AND state IN ('QUEUED', 'RUNNING') AND kind = 'DELETE' LIMIT 1)sql";

constexpr std::string_view kBackupExists = "SELECT count(*) FROM backups WHERE backup_id = ?1";

constexpr std::string_view kRecordVerify = R"sql(
UPDATE backups SET last_verified_at = ?2, last_verify_valid = ?3, last_verify_error = ?4
WHERE backup_id = ?1)sql";

constexpr std::string_view kTouchJob = "UPDATE jobs SET updated_at = ?4";

constexpr std::string_view kInsertIntent =
    "INSERT OR IGNORE INTO restore_intents (job_id, created_at) VALUES (?1, ?2)";

constexpr std::string_view kUpsertCollection = R"sql(
INSERT INTO collections (namespace, name, db_path, files_path, message_type_namespace,
                         message_type_name, created_at, updated_at, node)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)
ON CONFLICT (namespace, name) DO UPDATE SET updated_at = ?7)sql";

}  // namespace

Status SqliteControlStore::EnqueueBackupReader(const Job& job) {
  auto work = [&]() -> Status {
    auto stmt = db_.Prepare(kBackupState);
    if (!stmt) return Fail(stmt.error());
    stmt->Bind({job.backup_id});
    auto row = stmt->Step();
    if (!row) return Fail(row.error());
    if (!*row) return Fail(Error::NotFound("backup " + job.backup_id + " not found"));
    // A PENDING backup's reader is queued behind the backup's job (see the claim).
    std::string state = stmt->Text(0);
    if (state != "COMPLETED" && state != "PENDING") {
      return Fail(Error::FailedPrecondition("backup " + job.backup_id + " is " + state +
                                            "; only a COMPLETED or PENDING backup can be read"));
    }
    return InsertJob(job);
  };
  BACKUP_TRY(GroupCommit(work), "enqueue job");
  NotifyChange();
  return {};
}

Status SqliteControlStore::MarkDeleting(const std::string& backup_id) {
  auto active = db_.QueryInt(kActiveJobsOfBackup, {backup_id});
  if (!active) return Fail(active.error());
  if (*active > 0) {
    return Fail(Error::FailedPrecondition(
        "backup " + backup_id + " is in use by " + std::to_string(*active) +
        " queued or running job(s); cancel them or wait for them to end"));
  }
  return db_.Run("UPDATE backups SET state = 'DELETING' WHERE backup_id = ?1", {backup_id});
}

Result<BackupRecord> SqliteControlStore::BeginDeleteBackup(const std::string& backup_id) {
  {
    std::lock_guard lock(mu_);
    auto tx = sql::Transaction::Begin(db_);
    if (!tx) return Fail(tx.error());
    BACKUP_TRY(MarkDeleting(backup_id), "delete backup");
    BACKUP_TRY(tx->Commit(), "delete backup");
  }
  return GetBackup(backup_id);
}

Status SqliteControlStore::FinishDeleteBackup(const std::string& backup_id) {
  std::lock_guard lock(mu_);
  return db_.Run("DELETE FROM backups WHERE backup_id = ?1 AND state = 'DELETING'", {backup_id});
}

Result<Job> SqliteControlStore::EnqueueDeleteBackup(const Job& job) {
  std::string pending_id;  // a DELETE of the backup already queued or running
  auto work = [&]() -> Status {
    pending_id.clear();
    auto exists = db_.QueryInt(kBackupExists, {job.backup_id});
    if (!exists) return Fail(exists.error());
    if (*exists == 0) return Fail(Error::NotFound("backup " + job.backup_id + " not found"));
    auto pending = db_.Prepare(kActiveDeleteOfBackup);
    if (!pending) return Fail(pending.error());
    pending->Bind({job.backup_id});
    auto row = pending->Step();
    if (!row) return Fail(row.error());
    if (*row) {
      pending_id = pending->Text(0);
      return {};
    }
    BACKUP_TRY(MarkDeleting(job.backup_id), "delete backup");
    return InsertJob(job);
  };
  BACKUP_TRY(GroupCommit(work), "enqueue delete");
  NotifyChange();
  return GetJob(pending_id.empty() ? job.id : pending_id);
}

Status SqliteControlStore::CompleteDeleteBackup(const Lease& lease, const std::string& backup_id,
                                                const std::string& result) {
  return SucceedJob(lease, "complete delete", result, std::nullopt, [&] {
    return db_.Run("DELETE FROM backups WHERE backup_id = ?1", {backup_id});
  });
}

Status SqliteControlStore::CompleteVerify(const Lease& lease, const std::string& backup_id,
                                          bool valid, const std::string& error,
                                          const std::string& result) {
  return SucceedJob(lease, "complete verify", result, std::nullopt, [&] {
    return db_.Run(kRecordVerify, {backup_id, Now() / 1000, static_cast<int64_t>(valid), error});
  });
}

// The intent is written under the same fence as every other worker write: a worker that
// lost its lease can never start a swap.
Status SqliteControlStore::RecordRestoreIntent(const Lease& lease) {
  return FencedWrite(lease, "record restore intent", kTouchJob, {Now()}, [&] {
    return db_.Run(kInsertIntent, {lease.job_id, Now()});
  });
}

Status SqliteControlStore::AbandonRestoreIntent(const Lease& lease) {
  return FencedWrite(lease, "abandon restore intent", kTouchJob, {Now()}, [&] {
    return db_.Run("DELETE FROM restore_intents WHERE job_id = ?1", {lease.job_id});
  });
}

Result<bool> SqliteControlStore::HasRestoreIntent(const std::string& job_id) {
  std::lock_guard lock(mu_);
  auto n = db_.QueryInt("SELECT count(*) FROM restore_intents WHERE job_id = ?1", {job_id});
  if (!n) return Fail(n.error());
  return *n > 0;
}

Status SqliteControlStore::CompleteRestore(const Lease& lease, const CollectionRecord& c,
                                           const std::string& result) {
  return SucceedJob(lease, "complete restore", result, std::nullopt, [&]() -> Status {
    BACKUP_TRY(
        db_.Run(kUpsertCollection, {c.name.ns, c.name.name, c.db_path, c.files_path,
                                    c.message_type_namespace, c.message_type_name, Now(), c.node}),
        "register restored collection");
    BACKUP_TRY(UpdateLabels(c), "register restored collection");
    return db_.Run("DELETE FROM restore_intents WHERE job_id = ?1", {lease.job_id});
  });
}

}  // namespace backup
