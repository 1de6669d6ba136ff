// The job queue on PostgreSQL: reads for the front-end, and the lease-fenced writes of
// the workers. The statements mirror control/sqlite/job_queries.cc; where they differ,
// a comment says why.
#include <algorithm>
#include <string>
#include <unordered_map>

#include "control/postgres/postgres_control_store.h"

namespace backup {
namespace {

// pg_advisory_xact_lock key that serialises claims ("CBcl"). Job seqs are handed out
// before their transactions commit, so two jobs can become visible out of seq order; two
// claims running at once could then each miss the other's conflicting job and start a
// restore beside another job of its collection. Under the lock each claim's snapshot
// sees every claim before it. A claim is one short statement, so the lock is held for
// about a millisecond.
constexpr int64_t kClaimLock = 0x4342636c;

constexpr std::string_view kInsertJob = R"sql(
INSERT INTO jobs (job_id, kind, state, collection_namespace, collection_name, backup_id,
                  params, max_attempts, run_after, created_at, updated_at, idempotency_key,
                  request_hash, submitted_by, node)
VALUES ($1, $2, 'QUEUED', $3, $4, $5, $6, $7, $8, $8, $8, $9, $10, $11, $12))sql";

constexpr std::string_view kInsertAttempt = R"sql(
INSERT INTO job_attempts (job_id, attempt, worker, error_code, error_message, finished_at)
VALUES ($1, $2, $3, $4, $5, backup_now_ms($6))
ON CONFLICT (job_id, attempt) DO UPDATE SET worker = excluded.worker,
  error_code = excluded.error_code, error_message = excluded.error_message,
  finished_at = excluded.finished_at)sql";

// The attempts a rescue is about to end, recorded before the rescue changes them; $1 is
// the one instant both statements use.
constexpr std::string_view kRecordExpiredAttempts = R"sql(
INSERT INTO job_attempts (job_id, attempt, worker, error_code, error_message, finished_at)
SELECT job_id, attempt, lease_owner, 13,
       'lease of worker ' || lease_owner || ' expired (the worker stopped heartbeating)', $1
FROM jobs WHERE state = 'RUNNING' AND lease_expires_at < $1
ON CONFLICT (job_id, attempt) DO UPDATE SET worker = excluded.worker,
  error_code = excluded.error_code, error_message = excluded.error_message,
  finished_at = excluded.finished_at)sql";

constexpr std::string_view kRelease = R"sql(
UPDATE jobs SET state = 'QUEUED', attempt = attempt - 1, run_after = backup_now_ms($4),
                phase = 'queued', lease_expires_at = 0, updated_at = backup_now_ms($4))sql";

constexpr std::string_view kJobColumns = R"sql(
seq, job_id, kind, state, collection_namespace, collection_name, backup_id, params, result,
phase, bytes_done, bytes_total, items_done, items_total, attempt, max_attempts, lease_owner,
lease_expires_at, cancel_requested, error_code, error_message, created_at, started_at,
finished_at, idempotency_key, request_hash, submitted_by, node)sql";

// $1 owner, $2 now, $3 lease length, $4 how many, $5 the claimer's node. The rules of the
// SQLite claim: a job is runnable when it is QUEUED, due, of the claimer's node or of
// none, and conflicts with no RUNNING job and no earlier QUEUED one (a restore into a
// collection conflicts with every other job on it); a restore or verify of a backup whose
// own job has not ended waits for it. As there, only a restore looks at all its
// collection's jobs; any other job at the collection's restores alone. SKIP LOCKED passes
// over rows another transaction is changing (a cancel, a heartbeat's neighbour).
constexpr std::string_view kClaim = R"sql(
WITH picked AS (
  SELECT q.seq FROM jobs q
  WHERE q.state = 'QUEUED' AND q.run_after <= backup_now_ms($2) AND q.node IN ('', $5)
    AND NOT EXISTS (
      SELECT 1 FROM jobs o
      WHERE o.collection_namespace = q.collection_namespace
        AND o.collection_name = q.collection_name AND o.kind = 'RESTORE'
        AND (o.state = 'RUNNING' OR (o.state = 'QUEUED' AND o.seq < q.seq)))
    AND (q.kind <> 'RESTORE' OR NOT EXISTS (
      SELECT 1 FROM jobs o
      WHERE o.collection_namespace = q.collection_namespace
        AND o.collection_name = q.collection_name
        AND (o.state = 'RUNNING' OR (o.state = 'QUEUED' AND o.seq < q.seq))))
    AND (q.kind = 'BACKUP' OR NOT EXISTS (
      SELECT 1 FROM jobs b
      WHERE b.backup_id = q.backup_id AND b.state IN ('QUEUED', 'RUNNING')
        AND b.kind = 'BACKUP'))
  ORDER BY q.seq LIMIT $4
  FOR UPDATE SKIP LOCKED)
UPDATE jobs SET state = 'RUNNING', lease_owner = $1, lease_expires_at = backup_now_ms($2) + $3,
                attempt = attempt + 1, cancel_requested = false, phase = 'starting',
                started_at = CASE WHEN started_at = 0 THEN backup_now_ms($2) ELSE started_at END,
                updated_at = backup_now_ms($2)
WHERE seq IN (SELECT seq FROM picked)
RETURNING )sql";

constexpr std::string_view kHeartbeat = R"sql(
UPDATE jobs SET lease_expires_at = backup_now_ms($4) + $5, phase = $6, bytes_done = $7,
                bytes_total = $8, items_done = $9, items_total = $10,
                updated_at = backup_now_ms($4))sql";

// A restore past its intent is never failed or cancelled: it goes back to the queue to
// finish its swap.
constexpr std::string_view kFinish = R"sql(
UPDATE jobs SET
  state = CASE WHEN job_id IN (SELECT job_id FROM restore_intents) THEN 'QUEUED' ELSE $4 END,
  run_after = backup_now_ms($7) + 1000,
  phase = CASE WHEN job_id IN (SELECT job_id FROM restore_intents) THEN 'queued' ELSE phase END,
  error_code = $5, error_message = $6,
  finished_at = CASE WHEN job_id IN (SELECT job_id FROM restore_intents) THEN 0
                     ELSE backup_now_ms($7) END,
  updated_at = backup_now_ms($7))sql";

constexpr std::string_view kRetry = R"sql(
UPDATE jobs SET state = 'QUEUED', error_code = $4, error_message = $5, run_after = $6,
                phase = 'queued', updated_at = backup_now_ms($7))sql";

// A backup row follows its job when the job ends without success: the one job's ($1), or
// with NULL every job's (after a rescue).
constexpr std::string_view kSettleBackups = R"sql(
UPDATE backups b SET state = j.state FROM jobs j
WHERE b.state = 'PENDING' AND j.job_id = b.job_id AND j.state IN ('FAILED', 'CANCELLED')
  AND ($1::text IS NULL OR b.job_id = $1))sql";

constexpr std::string_view kRescue = R"sql(
UPDATE jobs SET
  state = CASE WHEN job_id IN (SELECT job_id FROM restore_intents) THEN 'QUEUED'
               WHEN cancel_requested THEN 'CANCELLED'
               WHEN attempt >= max_attempts THEN 'FAILED' ELSE 'QUEUED' END,
  error_code = CASE WHEN cancel_requested THEN 1 ELSE 13 END,
  error_message = 'lease of worker ' || lease_owner || ' expired on attempt ' || attempt ||
                  ' (the worker stopped heartbeating)',
  finished_at = CASE WHEN job_id IN (SELECT job_id FROM restore_intents) THEN 0
                     WHEN cancel_requested OR attempt >= max_attempts THEN $1 ELSE 0 END,
  phase = 'queued', run_after = $1, updated_at = $1
WHERE state = 'RUNNING' AND lease_expires_at < $1)sql";

constexpr std::string_view kCancelQueued = R"sql(
UPDATE jobs SET state = 'CANCELLED', error_code = 1, error_message = 'cancelled by request',
                finished_at = backup_now_ms($2), updated_at = backup_now_ms($2)
WHERE job_id = $1 AND state = 'QUEUED')sql";

constexpr std::string_view kCancelRunning = R"sql(
UPDATE jobs SET cancel_requested = true, updated_at = backup_now_ms($2)
WHERE job_id = $1 AND state = 'RUNNING')sql";

Job ReadJob(const pg::Rows& r, int i) {
  Job j;
  j.seq = r.Int(i, 0);
  j.id = r.Text(i, 1);
  j.kind = JobKindFromString(r.Text(i, 2)).value_or(JobKind::kBackup);
  j.state = JobStateFromString(r.Text(i, 3)).value_or(JobState::kFailed);
  j.collection = {r.Text(i, 4), r.Text(i, 5)};
  j.backup_id = r.Text(i, 6);
  j.params = r.Blob(i, 7);
  j.result = r.Blob(i, 8);
  j.progress = {r.Text(i, 9), r.Int(i, 10), r.Int(i, 11), r.Int(i, 12), r.Int(i, 13)};
  j.attempt = static_cast<int>(r.Int(i, 14));
  j.max_attempts = static_cast<int>(r.Int(i, 15));
  j.lease_owner = r.Text(i, 16);
  j.lease_expires_at_ms = r.Int(i, 17);
  j.cancel_requested = r.Bool(i, 18);
  if (r.Int(i, 19) != 0) j.error = Error(static_cast<Code>(r.Int(i, 19)), r.Text(i, 20));
  j.created_at_ms = r.Int(i, 21);
  j.started_at_ms = r.Int(i, 22);
  j.finished_at_ms = r.Int(i, 23);
  j.idempotency_key = r.Text(i, 24);
  j.request_hash = r.Text(i, 25);
  j.submitted_by = r.Text(i, 26);
  j.node = r.Text(i, 27);
  return j;
}

std::vector<Job> ReadJobs(const pg::Rows& rows) {
  std::vector<Job> out;
  out.reserve(static_cast<size_t>(rows.Count()));
  for (int i = 0; i < rows.Count(); ++i) out.push_back(ReadJob(rows, i));
  return out;
}

std::string SelectJobs(std::string_view where) {
  return "SELECT " + std::string(kJobColumns) + " FROM jobs " + std::string(where);
}

std::string_view KindText(const std::optional<JobKind>& kind) {
  return kind ? ToString(*kind) : "";
}

}  // namespace

Status PostgresControlStore::InsertJob(pg::Connection& c, const Job& job) {
  auto inserted =
      c.Run(kInsertJob,
            {std::string_view(job.id), ToString(job.kind), std::string_view(job.collection.ns),
             std::string_view(job.collection.name), std::string_view(job.backup_id),
             pg::Bytes{job.params}, int64_t{job.max_attempts}, job.created_at_ms,
             std::string_view(job.idempotency_key), std::string_view(job.request_hash),
             std::string_view(job.submitted_by), std::string_view(job.node)});
  if (!inserted) return Fail(inserted.error().Context("insert job"));
  return {};
}

Status PostgresControlStore::RecordAttempt(pg::Connection& c, const Lease& lease,
                                           const Error& error) {
  auto recorded =
      c.Run(kInsertAttempt,
            {std::string_view(lease.job_id), int64_t{lease.attempt}, std::string_view(lease.owner),
             static_cast<int64_t>(error.code()), std::string_view(error.message()), Now()});
  if (!recorded) return Fail(recorded.error().Context("attempt history"));
  return {};
}

Result<std::vector<Job>> PostgresControlStore::ReadJobsWithAttempts(
    pg::Connection& c, std::string_view where, const std::vector<pg::Value>& params) {
  auto rows = c.Query(SelectJobs(where), params);
  if (!rows) return Fail(rows.error());
  std::vector<Job> jobs = ReadJobs(*rows);
  if (jobs.empty()) return jobs;
  std::vector<std::string> ids;
  std::unordered_map<std::string, Job*> by_id;
  for (Job& j : jobs) {
    ids.push_back(j.id);
    by_id[j.id] = &j;
  }
  const std::string array = pg::TextArray(ids);
  auto attempts = c.Query(
      "SELECT job_id, attempt, worker, error_code, error_message, finished_at FROM job_attempts "
      "WHERE job_id = ANY($1::text[]) ORDER BY job_id, attempt",
      {std::string_view(array)});
  if (!attempts) return Fail(attempts.error().Context("job attempts"));
  for (int i = 0; i < attempts->Count(); ++i) {
    auto found = by_id.find(attempts->Text(i, 0));
    if (found == by_id.end()) continue;
    found->second->attempts.push_back(
        {static_cast<int>(attempts->Int(i, 1)), attempts->Text(i, 2),
         Error(static_cast<Code>(attempts->Int(i, 3)), attempts->Text(i, 4)), attempts->Int(i, 5)});
  }
  return jobs;
}

Result<Job> PostgresControlStore::GetJob(const std::string& job_id) {
  auto jobs = GetJobs({job_id});
  if (!jobs) return Fail(jobs.error().Context("get job"));
  if (jobs->empty()) return Fail(Error::NotFound("job " + job_id + " not found"));
  return std::move(jobs->front());
}

Result<std::vector<Job>> PostgresControlStore::GetJobs(const std::vector<std::string>& job_ids) {
  std::vector<Job> out;
  if (job_ids.empty()) return out;
  const std::string array = pg::TextArray(job_ids);
  if (auto done = WithConnection("get jobs",
                                 [&](pg::Connection& c) -> Status {
                                   auto jobs =
                                       ReadJobsWithAttempts(c, "WHERE job_id = ANY($1::text[])",
                                                            {std::string_view(array)});
                                   if (!jobs) return Fail(jobs.error());
                                   out = std::move(*jobs);
                                   return {};
                                 });
      !done)
    return Fail(done.error());
  return out;
}

Result<std::optional<Job>> PostgresControlStore::FindByIdempotencyKey(const std::string& key) {
  std::optional<Job> found;
  if (auto done = WithConnection("find idempotency key",
                                 [&](pg::Connection& c) -> Status {
                                   auto jobs = ReadJobsWithAttempts(c, "WHERE idempotency_key = $1",
                                                                    {std::string_view(key)});
                                   if (!jobs) return Fail(jobs.error());
                                   if (!jobs->empty()) found = std::move(jobs->front());
                                   return {};
                                 });
      !done)
    return Fail(done.error());
  return found;
}

Result<int> PostgresControlStore::PruneFinishedJobs(int64_t before_ms) {
  int64_t pruned = 0;
  if (auto done = Transact(
          "prune jobs",
          [&](pg::Connection& c) -> Status {
            // restore_intents has no cascade: a finished job's intent is gone already.
            auto n = c.Run(
                "DELETE FROM jobs WHERE finished_at > 0 AND finished_at < $1 AND state IN "
                "('SUCCEEDED', 'FAILED', 'CANCELLED') AND job_id NOT IN "
                "(SELECT job_id FROM restore_intents)",
                {before_ms});
            if (!n) return Fail(n.error());
            pruned = *n;
            return {};
          },
          /*notify=*/false);
      !done)
    return Fail(done.error());
  return static_cast<int>(pruned);
}

Result<JobPage> PostgresControlStore::ListJobs(const JobQuery& q) {
  int64_t before = INT64_MAX;
  if (!q.page_token.empty()) {
    char* end = nullptr;
    before = std::strtoll(q.page_token.c_str(), &end, 10);
    if (end == nullptr || *end != '\0' || before <= 0) {
      return Fail(Error::InvalidArgument("invalid page_token \"" + q.page_token + "\""));
    }
  }
  std::string where =
      "WHERE seq < $1 AND ($2 = '' OR state = $2) AND ($3 = '' OR kind = $3) "
      "AND ($4 = '' OR collection_namespace = $4) AND ($5 = '' OR collection_name = $5)";
  std::vector<pg::Value> params = {before,
                                   q.state ? ToString(*q.state) : "",
                                   KindText(q.kind),
                                   q.collection ? std::string_view(q.collection->ns) : "",
                                   q.collection ? std::string_view(q.collection->name) : "",
                                   static_cast<int64_t>(q.page_size) + 1};
  const std::string scope = pg::LikeArray(q.namespace_globs);
  if (!q.namespace_globs.empty()) {
    where += " AND collection_namespace LIKE ANY ($7::text[])";
    params.push_back(std::string_view(scope));
  }
  where += " ORDER BY seq DESC LIMIT $6";
  JobPage page;
  if (auto done = WithConnection("list jobs",
                                 [&](pg::Connection& c) -> Status {
                                   auto rows = c.Query(SelectJobs(where), params);
                                   if (!rows) return Fail(rows.error());
                                   page.jobs = ReadJobs(*rows);
                                   return {};
                                 });
      !done)
    return Fail(done.error());
  if (static_cast<int>(page.jobs.size()) > q.page_size) {
    page.jobs.resize(q.page_size);
    page.next_page_token = std::to_string(page.jobs.back().seq);
  }
  return page;
}

Result<Job> PostgresControlStore::CancelJob(const std::string& job_id) {
  if (auto done = Transact(
          "cancel job",
          [&](pg::Connection& c) -> Status {
            auto cancelled = c.Run(kCancelQueued, {std::string_view(job_id), Now()});
            if (!cancelled) return Fail(cancelled.error());
            if (*cancelled == 1) {
              BACKUP_TRY(c.Run(kSettleBackups, {std::string_view(job_id)}), "backup row");
              return {};
            }
            BACKUP_TRY(c.Run(kCancelRunning, {std::string_view(job_id), Now()}), "request cancel");
            return {};
          },
          /*notify=*/true);
      !done)
    return Fail(done.error());
  return GetJob(job_id);
}

Result<std::vector<Job>> PostgresControlStore::Claim(const std::string& owner, int max,
                                                     int64_t lease_ms) {
  std::vector<Job> jobs;
  if (max <= 0) return jobs;
  const std::string sql = std::string(kClaim) + std::string(kJobColumns);
  if (auto done = Transact(
          "claim jobs",
          [&](pg::Connection& c) -> Status {
            BACKUP_TRY(c.Run("SELECT pg_advisory_xact_lock($1)", {kClaimLock}), "claim lock");
            auto rows = c.Query(sql, {std::string_view(owner), Now(), lease_ms,
                                      static_cast<int64_t>(max), std::string_view(options_.node)});
            if (!rows) return Fail(rows.error());
            jobs = ReadJobs(*rows);
            return {};
          },
          /*notify=*/false);
      !done)
    return Fail(done.error());
  std::sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) { return a.seq < b.seq; });
  // Other processes learn of a claim from its first heartbeat; this one's waiters now.
  if (!jobs.empty()) NotifyChange();
  return jobs;
}

Result<LeaseStatus> PostgresControlStore::Heartbeat(const Lease& lease, const Progress& p,
                                                    int64_t lease_ms) {
  LeaseStatus status;
  auto read_cancel = [&](pg::Connection& c) -> Status {
    auto rows = c.Query("SELECT cancel_requested FROM jobs WHERE job_id = $1",
                        {std::string_view(lease.job_id)});
    if (!rows) return Fail(rows.error());
    status.cancel_requested = rows->Count() == 1 && rows->Bool(0, 0);
    return {};
  };
  BACKUP_TRY(FencedWrite(lease, "heartbeat", kHeartbeat,
                         {Now(), lease_ms, std::string_view(p.phase), p.bytes_done, p.bytes_total,
                          p.items_done, p.items_total},
                         read_cancel),
             "heartbeat");
  return status;
}

Status PostgresControlStore::FinishJob(const Lease& lease, JobState state, const Error& error) {
  return FencedWrite(lease, "finish job", kFinish,
                     {ToString(state), static_cast<int64_t>(error.code()),
                      std::string_view(error.message()), Now()},
                     [&](pg::Connection& c) -> Status {
                       BACKUP_TRY(RecordAttempt(c, lease, error), "attempt history");
                       BACKUP_TRY(c.Run(kSettleBackups, {std::string_view(lease.job_id)}),
                                  "backup row");
                       return {};
                     });
}

Status PostgresControlStore::RetryJob(const Lease& lease, const Error& error,
                                      int64_t run_after_ms) {
  return FencedWrite(
      lease, "retry job", kRetry,
      {static_cast<int64_t>(error.code()), std::string_view(error.message()), run_after_ms, Now()},
      [&](pg::Connection& c) { return RecordAttempt(c, lease, error); });
}

Status PostgresControlStore::ReleaseJob(const Lease& lease) {
  return FencedWrite(lease, "release job", kRelease, {Now()});
}

Result<int> PostgresControlStore::RescueExpired() {
  int64_t touched = 0;
  if (auto done = Transact(
          "rescue expired leases",
          [&](pg::Connection& c) -> Status {
            // One instant for both statements: a lease expiring between two readings
            // of the clock would be requeued without its attempt being recorded.
            auto now = c.Query("SELECT backup_now_ms($1)", {Now()});
            if (!now) return Fail(now.error());
            const int64_t at = now->Int(0, 0);
            BACKUP_TRY(c.Run(kRecordExpiredAttempts, {at}), "attempt history");
            auto n = c.Run(kRescue, {at});
            if (!n) return Fail(n.error());
            touched = *n;
            if (touched > 0) BACKUP_TRY(c.Run(kSettleBackups, {nullptr}), "backup rows");
            return {};
          },
          /*notify=*/true);
      !done)
    return Fail(done.error());
  return static_cast<int>(touched);
}

Result<QueueStats> PostgresControlStore::Stats() {
  QueueStats stats;
  if (auto done = WithConnection(
          "queue stats",
          [&](pg::Connection& c) -> Status {
            auto rows = c.Query(
                "SELECT kind, state, count(*), min(created_at) FROM jobs "
                "WHERE state IN ('QUEUED', 'RUNNING') GROUP BY kind, state");
            if (!rows) return Fail(rows.error());
            for (int i = 0; i < rows->Count(); ++i) {
              auto kind = JobKindFromString(rows->Text(i, 0));
              auto state = JobStateFromString(rows->Text(i, 1));
              if (!kind || !state) continue;
              stats.active[{*kind, *state}] = rows->Int(i, 2);
              if (*state == JobState::kQueued &&
                  (stats.oldest_queued_ms == 0 || rows->Int(i, 3) < stats.oldest_queued_ms)) {
                stats.oldest_queued_ms = rows->Int(i, 3);
              }
            }
            return {};
          });
      !done)
    return Fail(done.error());
  return stats;
}

}  // namespace backup
