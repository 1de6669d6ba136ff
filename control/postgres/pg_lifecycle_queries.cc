// Jobs that read an existing backup (restore, verify), their completion, the restore
// journal, and deletion of backups, on PostgreSQL.
#include <string>

#include "control/postgres/postgres_control_store.h"

namespace backup {
namespace {

constexpr std::string_view kRecordVerify = R"sql(
UPDATE backups SET last_verified_at = backup_now_ms($2) / 1000, last_verify_valid = $3,
                   last_verify_error = $4
WHERE backup_id = $1)sql";

constexpr std::string_view kTouchJob = "UPDATE jobs SET updated_at = backup_now_ms($4)";

constexpr std::string_view kUpsertCollection = R"sql(
INSERT INTO collections (namespace, name, db_path, files_path, message_type_namespace,
                         message_type_name, created_at, updated_at, node)
VALUES ($1, $2, $3, $4, $5, $6, backup_now_ms($7), backup_now_ms($7), $8)
ON CONFLICT (namespace, name) DO UPDATE SET updated_at = excluded.updated_at)sql";

// A DELETE of the backup that is queued or running.
constexpr std::string_view kActiveDeleteOfBackup = R"sql(
SELECT job_id FROM jobs
WHERE backup_id = $1 AND state IN ('QUEUED', 'RUNNING') AND kind = 'DELETE' LIMIT 1)sql";

}  // namespace

// Marks the backup DELETING unless a job other than a DELETE uses it. REQUIRES: the
// backup's row is locked by the caller's transaction.
Status PostgresControlStore::MarkDeleting(pg::Connection& c, const std::string& backup_id) {
  auto active = c.Query(
      "SELECT count(*) FROM jobs WHERE backup_id = $1 AND state IN ('QUEUED', 'RUNNING') "
      "AND kind <> 'DELETE'",
      {std::string_view(backup_id)});
  if (!active) return Fail(active.error());
  if (const int64_t n = active->Int(0, 0); n > 0) {
    return Fail(Error::FailedPrecondition(
        "backup " + backup_id + " is in use by " + std::to_string(n) +
        " queued or running job(s); cancel them or wait for them to end"));
  }
  BACKUP_TRY(c.Run("UPDATE backups SET state = 'DELETING' WHERE backup_id = $1",
                   {std::string_view(backup_id)}),
             "mark backup deleting");
  return {};
}

Status PostgresControlStore::EnqueueBackupReader(const Job& job) {
  return Transact(
      "enqueue job",
      [&](pg::Connection& c) -> Status {
        // FOR SHARE: a delete cannot mark the backup DELETING until this job is in.
        auto rows = c.Query("SELECT state FROM backups WHERE backup_id = $1 FOR SHARE",
                            {std::string_view(job.backup_id)});
        if (!rows) return Fail(rows.error());
        if (rows->Count() == 0)
          return Fail(Error::NotFound("backup " + job.backup_id + " not found"));
        // A PENDING backup's reader is queued behind the backup's job (see the claim).
        const std::string state = rows->Text(0, 0);
        if (state != "COMPLETED" && state != "PENDING") {
          return Fail(
              Error::FailedPrecondition("backup " + job.backup_id + " is " + state +
                                        "; only a COMPLETED or PENDING backup can be read"));
        }
        return InsertJob(c, job);
      },
      /*notify=*/true);
}

Result<BackupRecord> PostgresControlStore::BeginDeleteBackup(const std::string& backup_id) {
  if (auto done = Transact(
          "delete backup",
          [&](pg::Connection& c) -> Status {
            // The row lock orders this against a reader being enqueued (FOR SHARE there).
            BACKUP_TRY(c.Run("SELECT 1 FROM backups WHERE backup_id = $1 FOR UPDATE",
                             {std::string_view(backup_id)}),
                       "lock backup");
            return MarkDeleting(c, backup_id);
          },
          /*notify=*/false);
      !done)
    return Fail(done.error());
  return GetBackup(backup_id);
}

Result<Job> PostgresControlStore::EnqueueDeleteBackup(const Job& job) {
  std::string job_id = job.id;
  if (auto done = Transact(
          "enqueue delete",
          [&](pg::Connection& c) -> Status {
            job_id = job.id;
            auto found = c.Query("SELECT 1 FROM backups WHERE backup_id = $1 FOR UPDATE",
                                 {std::string_view(job.backup_id)});
            if (!found) return Fail(found.error());
            if (found->Count() == 0) {
              return Fail(Error::NotFound("backup " + job.backup_id + " not found"));
            }
            auto pending = c.Query(kActiveDeleteOfBackup, {std::string_view(job.backup_id)});
            if (!pending) return Fail(pending.error());
            if (pending->Count() > 0) {
              job_id = pending->Text(0, 0);
              return {};
            }
            BACKUP_TRY(MarkDeleting(c, job.backup_id), "delete backup");
            return InsertJob(c, job);
          },
          /*notify=*/true);
      !done)
    return Fail(done.error());
  return GetJob(job_id);
}

Status PostgresControlStore::CompleteDeleteBackup(const Lease& lease, const std::string& backup_id,
                                                  const std::string& result) {
  return SucceedJob(
      lease, "complete delete", result, std::nullopt, [&](pg::Connection& c) -> Status {
        BACKUP_TRY(c.Run("DELETE FROM backups WHERE backup_id = $1", {std::string_view(backup_id)}),
                   "delete backup row");
        return {};
      });
}

Status PostgresControlStore::FinishDeleteBackup(const std::string& backup_id) {
  return WithConnection("finish delete", [&](pg::Connection& c) -> Status {
    BACKUP_TRY(c.Run("DELETE FROM backups WHERE backup_id = $1 AND state = 'DELETING'",
                     {std::string_view(backup_id)}),
               "delete backup row");
    return {};
  });
}

Status PostgresControlStore::CompleteVerify(const Lease& lease, const std::string& backup_id,
                                            bool valid, const std::string& error,
                                            const std::string& result) {
  return SucceedJob(
      lease, "complete verify", result, std::nullopt, [&](pg::Connection& c) -> Status {
        BACKUP_TRY(c.Run(kRecordVerify,
                         {std::string_view(backup_id), Now(), valid, std::string_view(error)}),
                   "record verify");
        return {};
      });
}

// The intent is written under the same fence as every other worker write: a worker that
// lost its lease can never start a swap.
Status PostgresControlStore::RecordRestoreIntent(const Lease& lease) {
  return FencedWrite(lease, "record restore intent", kTouchJob, {Now()},
                     [&](pg::Connection& c) -> Status {
                       BACKUP_TRY(c.Run("INSERT INTO restore_intents (job_id, created_at) "
                                        "VALUES ($1, backup_now_ms($2)) ON CONFLICT DO NOTHING",
                                        {std::string_view(lease.job_id), Now()}),
                                  "insert intent");
                       return {};
                     });
}

Status PostgresControlStore::AbandonRestoreIntent(const Lease& lease) {
  return FencedWrite(lease, "abandon restore intent", kTouchJob, {Now()},
                     [&](pg::Connection& c) -> Status {
                       BACKUP_TRY(c.Run("DELETE FROM restore_intents WHERE job_id = $1",
                                        {std::string_view(lease.job_id)}),
                                  "delete intent");
                       return {};
                     });
}

Result<bool> PostgresControlStore::HasRestoreIntent(const std::string& job_id) {
  bool found = false;
  if (auto done = WithConnection("read restore intent",
                                 [&](pg::Connection& c) -> Status {
                                   auto r =
                                       c.Query("SELECT 1 FROM restore_intents WHERE job_id = $1",
                                               {std::string_view(job_id)});
                                   if (!r) return Fail(r.error());
                                   found = r->Count() > 0;
                                   return {};
                                 });
      !done)
    return Fail(done.error());
  return found;
}

Status PostgresControlStore::CompleteRestore(const Lease& lease, const CollectionRecord& col,
                                             const std::string& result) {
  return SucceedJob(
      lease, "complete restore", result, std::nullopt, [&](pg::Connection& c) -> Status {
        BACKUP_TRY(
            c.Run(kUpsertCollection,
                  {std::string_view(col.name.ns), std::string_view(col.name.name),
                   std::string_view(col.db_path), std::string_view(col.files_path),
                   std::string_view(col.message_type_namespace),
                   std::string_view(col.message_type_name), Now(), std::string_view(col.node)}),
            "register restored collection");
        BACKUP_TRY(UpdateLabels(c, col), "register restored collection");
        BACKUP_TRY(c.Run("DELETE FROM restore_intents WHERE job_id = $1",
                         {std::string_view(lease.job_id)}),
                   "clear intent");
        return {};
      });
}

}  // namespace backup
