// The job queue: reads for the front-end, and the lease-fenced writes of the workers.
#include <algorithm>
#include <string>
#include <unordered_map>

#include "control/sqlite/scope_filter.h"
#include "control/sqlite/sqlite_control_store.h"

namespace backup {
namespace {

constexpr std::string_view kInsertJob = R"sql(
INSERT INTO jobs (job_id, kind, state, collection_namespace, collection_name, backup_id,
                  params, max_attempts, run_after, created_at, updated_at, idempotency_key,
                  request_hash, submitted_by, node)
VALUES (?1, ?2, 'QUEUED', ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?8, ?9, ?10, ?11, ?12))sql";

constexpr std::string_view kInsertAttempt = R"sql(
INSERT OR REPLACE INTO job_attempts (job_id, attempt, worker, error_code, error_message, finished_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6))sql";

// The attempts a rescue is about to end, recorded before the rescue changes them.
constexpr std::string_view kRecordExpiredAttempts = R"sql(
INSERT OR REPLACE INTO job_attempts (job_id, attempt, worker, error_code, error_message, finished_at)
SELECT job_id, attempt, lease_owner, 13,
       'lease of worker ' || lease_owner || ' expired (the worker stopped heartbeating)', ?1
FROM jobs WHERE state = 'RUNNING' AND lease_expires_at < ?1)sql";

constexpr std::string_view kRelease = R"sql(
UPDATE jobs SET state = 'QUEUED', attempt = attempt - 1, run_after = ?4, phase = 'queued',
                lease_expires_at = 0, updated_at = ?4)sql";

constexpr std::string_view kJobColumns = R"sql(
seq, job_id, kind, state, collection_namespace, collection_name, backup_id, params, result,
phase, bytes_done, bytes_total, items_done, items_total, attempt, max_attempts, lease_owner,
lease_expires_at, cancel_requested, error_code, error_message, created_at, started_at,
finished_at, idempotency_key, request_hash, submitted_by, node)sql";

// ?1 owner, ?2 now, ?3 lease length, ?4 how many, ?5 the claimer's node. A job is
// runnable when it is QUEUED, due, of the claimer's node or of none, and conflicts with no
// RUNNING job and no earlier QUEUED one (a restore into a collection conflicts with every
// other job on it), so conflicting jobs run in the order they were submitted and never at
// once; and a restore or verify of a backup whose own job has not ended yet waits for it.
// The conflict test is split so that only a restore looks at all its collection's jobs;
// any other job looks at the collection's restores alone (idx_jobs_collection_kind), or a
// long queue on one collection would cost its length squared per claim.
constexpr std::string_view kClaim = R"sql(
UPDATE jobs SET state = 'RUNNING', lease_owner = ?1, lease_expires_at = ?2 + ?3,
                attempt = attempt + 1, cancel_requested = 0, phase = 'starting',
                started_at = CASE WHEN started_at = 0 THEN ?2 ELSE started_at END,
                updated_at = ?2
WHERE seq IN (
  SELECT q.seq FROM jobs q
  WHERE q.state = 'QUEUED' AND q.run_after <= ?2 AND (q.node = '' OR q.node = ?5)
    AND NOT EXISTS (
      SELECT 1 FROM jobs o
      WHERE o.collection_namespace = q.collection_namespace
        AND o.collection_name = q.collection_name AND o.kind = 'RESTORE'
        AND (o.state = 'RUNNING' OR (o.state = 'QUEUED' AND o.seq < q.seq)))
    AND (q.kind != 'RESTORE' OR NOT EXISTS (
      SELECT 1 FROM jobs o
      WHERE o.collection_namespace = q.collection_namespace
        AND o.collection_name = q.collection_name
        AND (o.state = 'RUNNING' OR (o.state = 'QUEUED' AND o.seq < q.seq))))
    AND (q.kind = 'BACKUP' OR NOT EXISTS (
      SELECT 1 FROM jobs b
      WHERE b.backup_id = q.backup_id AND b.state IN ('QUEUED', 'RUNNING')
        AND b.kind = 'BACKUP'))
  ORDER BY q.seq LIMIT ?4)
RETURNING )sql";

constexpr std::string_view kHeartbeat = R"sql(
UPDATE jobs SET lease_expires_at = ?4 + ?5, phase = ?6, bytes_done = ?7, bytes_total = ?8,
                items_done = ?9, items_total = ?10, updated_at = ?4)sql";

// A restore past its intent is never failed or cancelled: it goes back to the queue to
// finish its swap.
constexpr std::string_view kFinish = R"sql(
UPDATE jobs SET
  state = CASE WHEN job_id IN (SELECT job_id FROM restore_intents) THEN 'QUEUED' ELSE ?4 END,
  run_after = ?7 + 1000, phase = CASE WHEN job_id IN (SELECT job_id FROM restore_intents)
                                      THEN 'queued' ELSE phase END,
  error_code = ?5, error_message = ?6,
  finished_at = CASE WHEN job_id IN (SELECT job_id FROM restore_intents) THEN 0 ELSE ?7 END,
  updated_at = ?7)sql";

constexpr std::string_view kRetry = R"sql(
UPDATE jobs SET state = 'QUEUED', error_code = ?4, error_message = ?5, run_after = ?6,
                phase = 'queued', updated_at = ?7)sql";

// A backup row follows its job when the job ends without success.
constexpr std::string_view kSettleBackups = R"sql(
UPDATE backups SET state = (SELECT j.state FROM jobs j WHERE j.job_id = backups.job_id)
WHERE state = 'PENDING'
  AND job_id IN (SELECT job_id FROM jobs WHERE state IN ('FAILED', 'CANCELLED')))sql";

constexpr std::string_view kRescue = R"sql(
UPDATE jobs SET
  state = CASE WHEN job_id IN (SELECT job_id FROM restore_intents) THEN 'QUEUED'
               WHEN cancel_requested = 1 THEN 'CANCELLED'
               WHEN attempt >= max_attempts THEN 'FAILED' ELSE 'QUEUED' END,
  error_code = CASE WHEN cancel_requested = 1 THEN 1 ELSE 13 END,
  error_message = 'lease of worker ' || lease_owner || ' expired on attempt ' || attempt ||
                  ' (the worker stopped heartbeating)',
  finished_at = CASE WHEN job_id IN (SELECT job_id FROM restore_intents) THEN 0
                     WHEN cancel_requested = 1 OR attempt >= max_attempts THEN ?1 ELSE 0 END,
  phase = 'queued', run_after = ?1, updated_at = ?1
WHERE state = 'RUNNING' AND lease_expires_at < ?1)sql";

constexpr std::string_view kCancelQueued = R"sql(
UPDATE jobs SET state = 'CANCELLED', error_code = 1, error_message = 'cancelled by request',
                finished_at = ?2, updated_at = ?2
WHERE job_id = ?1 AND state = 'QUEUED')sql";

constexpr std::string_view kCancelRunning = R"sql(
UPDATE jobs SET cancel_requested = 1, updated_at = ?2 WHERE job_id = ?1 AND state = 'RUNNING')sql";

Job ReadJob(const sql::Statement& s) {
  Job j;
  j.seq = s.Int(0);
  j.id = s.Text(1);
  j.kind = JobKindFromString(s.Text(2)).value_or(JobKind::kBackup);
  j.state = JobStateFromString(s.Text(3)).value_or(JobState::kFailed);
  j.collection = {s.Text(4), s.Text(5)};
  j.backup_id = s.Text(6);
  j.params = s.Blob(7);
  j.result = s.Blob(8);
  j.progress = {s.Text(9), s.Int(10), s.Int(11), s.Int(12), s.Int(13)};
  j.attempt = static_cast<int>(s.Int(14));
  j.max_attempts = static_cast<int>(s.Int(15));
  j.lease_owner = s.Text(16);
  j.lease_expires_at_ms = s.Int(17);
  j.cancel_requested = s.Int(18) != 0;
  if (s.Int(19) != 0) j.error = Error(static_cast<Code>(s.Int(19)), s.Text(20));
  j.created_at_ms = s.Int(21);
  j.started_at_ms = s.Int(22);
  j.finished_at_ms = s.Int(23);
  j.idempotency_key = s.Text(24);
  j.request_hash = s.Text(25);
  j.submitted_by = s.Text(26);
  j.node = s.Text(27);
  return j;
}

Result<std::vector<Job>> ReadJobs(sql::Statement& s) {
  std::vector<Job> out;
  for (;;) {
    auto row = s.Step();
    if (!row) return Fail(row.error());
    if (!*row) return out;
    out.push_back(ReadJob(s));
  }
}

std::string SelectJobs(std::string_view where) {
  return "SELECT " + std::string(kJobColumns) + " FROM jobs " + std::string(where);
}

}  // namespace

Status SqliteControlStore::InsertJob(const Job& job) {
  return db_.Run(kInsertJob,
                 {job.id, ToString(job.kind), job.collection.ns, job.collection.name, job.backup_id,
                  job.params, static_cast<int64_t>(job.max_attempts), job.created_at_ms,
                  job.idempotency_key, job.request_hash, job.submitted_by, job.node});
}

Status SqliteControlStore::RecordAttempt(const Lease& lease, const Error& error) {
  return db_.Run(kInsertAttempt, {lease.job_id, static_cast<int64_t>(lease.attempt), lease.owner,
                                  static_cast<int64_t>(error.code()), error.message(), Now()});
}

Result<Job> SqliteControlStore::GetJob(const std::string& job_id) {
  auto jobs = GetJobs({job_id});
  if (!jobs) return Fail(jobs.error().Context("get job"));
  if (jobs->empty()) return Fail(Error::NotFound("job " + job_id + " not found"));
  return std::move(jobs->front());
}

Result<std::vector<Job>> SqliteControlStore::GetJobs(const std::vector<std::string>& job_ids) {
  constexpr size_t kBatch = 500;  // bound parameters per statement
  std::vector<Job> out;
  for (size_t from = 0; from < job_ids.size(); from += kBatch) {
    const size_t n = std::min(kBatch, job_ids.size() - from);
    std::string in = "(?";
    for (size_t i = 1; i < n; ++i) in += ",?";
    in += ")";
    std::lock_guard lock(mu_);
    auto stmt = db_.Prepare(SelectJobs("WHERE job_id IN " + in));
    if (!stmt) return Fail(stmt.error());
    for (size_t i = 0; i < n; ++i) stmt->BindAt(static_cast<int>(i + 1), job_ids[from + i]);
    auto jobs = ReadJobs(*stmt);
    if (!jobs) return Fail(jobs.error().Context("get jobs"));
    std::unordered_map<std::string, Job*> by_id;
    for (Job& j : *jobs) by_id[j.id] = &j;
    auto attempts = db_.Prepare(
        "SELECT job_id, attempt, worker, error_code, error_message, finished_at FROM job_attempts "
        "WHERE job_id IN " +
        in + " ORDER BY job_id, attempt");
    if (!attempts) return Fail(attempts.error());
    for (size_t i = 0; i < n; ++i) attempts->BindAt(static_cast<int>(i + 1), job_ids[from + i]);
    for (;;) {
      auto row = attempts->Step();
      if (!row) return Fail(row.error().Context("get job attempts"));
      if (!*row) break;
      auto found = by_id.find(attempts->Text(0));
      if (found == by_id.end()) continue;
      found->second->attempts.push_back(
          {static_cast<int>(attempts->Int(1)), attempts->Text(2),
           Error(static_cast<Code>(attempts->Int(3)), attempts->Text(4)), attempts->Int(5)});
    }
    for (Job& j : *jobs) out.push_back(std::move(j));
  }
  return out;
}

Result<std::optional<Job>> SqliteControlStore::FindByIdempotencyKey(const std::string& key) {
  std::string job_id;
  {
    std::lock_guard lock(mu_);
    auto stmt = db_.Prepare("SELECT job_id FROM jobs WHERE idempotency_key = ?1");
    if (!stmt) return Fail(stmt.error());
    stmt->Bind({key});
    auto row = stmt->Step();
    if (!row) return Fail(row.error().Context("find idempotency key"));
    if (!*row) return std::optional<Job>();
    job_id = stmt->Text(0);
  }
  auto job = GetJob(job_id);
  if (!job) return Fail(job.error());
  return std::optional<Job>(std::move(*job));
}

Result<int> SqliteControlStore::PruneFinishedJobs(int64_t before_ms) {
  std::lock_guard lock(mu_);
  BACKUP_TRY(db_.Run("DELETE FROM jobs WHERE finished_at > 0 AND finished_at < ?1 AND state IN "
                     "('SUCCEEDED', 'FAILED', 'CANCELLED')",
                     {before_ms}),
             "prune jobs");
  return static_cast<int>(db_.Changes());
}

Result<JobPage> SqliteControlStore::ListJobs(const JobQuery& q) {
  int64_t before = INT64_MAX;
  if (!q.page_token.empty()) {
    char* end = nullptr;
    before = std::strtoll(q.page_token.c_str(), &end, 10);
    if (end == nullptr || *end != '\0' || before <= 0) {
      return Fail(Error::InvalidArgument("invalid page_token \"" + q.page_token + "\""));
    }
  }
  std::lock_guard lock(mu_);
  auto stmt = db_.Prepare(SelectJobs(
      "WHERE seq < ?1 AND (?2 = '' OR state = ?2) AND (?3 = '' OR kind = ?3) "
      "AND (?4 = '' OR collection_namespace = ?4) AND (?5 = '' OR collection_name = ?5)" +
      ScopeFilter("collection_namespace", q.namespace_globs.size(), 7) +
      " ORDER BY seq DESC LIMIT ?6"));
  if (!stmt) return Fail(stmt.error());
  BindScope(*stmt, q.namespace_globs, 7);
  stmt->Bind({before, q.state ? ToString(*q.state) : "", q.kind ? ToString(*q.kind) : "",
              q.collection ? std::string_view(q.collection->ns) : "",
              q.collection ? std::string_view(q.collection->name) : "",
              static_cast<int64_t>(q.page_size) + 1});
  auto jobs = ReadJobs(*stmt);
  if (!jobs) return Fail(jobs.error().Context("list jobs"));
  JobPage page;
  if (static_cast<int>(jobs->size()) > q.page_size) {
    jobs->resize(q.page_size);
    page.next_page_token = std::to_string(jobs->back().seq);
  }
  page.jobs = std::move(*jobs);
  return page;
}

Result<Job> SqliteControlStore::CancelJob(const std::string& job_id) {
  {
    std::lock_guard lock(mu_);
    auto tx = sql::Transaction::Begin(db_);
    if (!tx) return Fail(tx.error().Context("cancel job"));
    BACKUP_TRY(db_.Run(kCancelQueued, {job_id, Now()}), "cancel job");
    if (db_.Changes() == 1) {
      BACKUP_TRY(db_.Run(kSettleBackups, {}), "cancel job: backup row");
    } else {
      BACKUP_TRY(db_.Run(kCancelRunning, {job_id, Now()}), "cancel job");
    }
    BACKUP_TRY(tx->Commit(), "cancel job");
  }
  NotifyChange();
  return GetJob(job_id);
}

Result<std::vector<Job>> SqliteControlStore::Claim(const std::string& owner, int max,
                                                   int64_t lease_ms) {
  if (max <= 0) return std::vector<Job>{};
  Result<std::vector<Job>> jobs;
  {
    std::lock_guard lock(mu_);
    // BEGIN IMMEDIATE: the write lock is taken (waiting for it, busy_timeout) before the
    // claim reads. In autocommit the statement would read first, and a commit by another
    // process in between makes its upgrade fail at once with "database is locked" (seen
    // with 8 processes claiming in backup-bench's control scenario).
    auto tx = sql::Transaction::Begin(db_);
    if (!tx) return Fail(tx.error().Context("claim jobs"));
    auto stmt = db_.Prepare(std::string(kClaim) + std::string(kJobColumns));
    if (!stmt) return Fail(stmt.error());
    stmt->Bind({owner, Now(), lease_ms, static_cast<int64_t>(max), options_.node});
    jobs = ReadJobs(*stmt);
    if (!jobs) return Fail(jobs.error().Context("claim jobs"));
    BACKUP_TRY(tx->Commit(), "claim jobs");
  }
  std::sort(jobs->begin(), jobs->end(), [](const Job& a, const Job& b) { return a.seq < b.seq; });
  if (!jobs->empty()) NotifyChange();
  return jobs;
}

Result<LeaseStatus> SqliteControlStore::Heartbeat(const Lease& lease, const Progress& p,
                                                  int64_t lease_ms) {
  LeaseStatus status;
  auto read_cancel = [&]() -> Status {
    auto cancel =
        db_.QueryInt("SELECT cancel_requested FROM jobs WHERE job_id = ?1", {lease.job_id});
    if (!cancel) return Fail(cancel.error());
    status.cancel_requested = *cancel != 0;
    return {};
  };
  if (auto s = FencedWrite(lease, "heartbeat", kHeartbeat,
                           {Now(), lease_ms, std::string_view(p.phase), p.bytes_done, p.bytes_total,
                            p.items_done, p.items_total},
                           read_cancel);
      !s) {
    return Fail(s.error());
  }
  return status;
}

Status SqliteControlStore::FinishJob(const Lease& lease, JobState state, const Error& error) {
  return FencedWrite(lease, "finish job", kFinish,
                     {ToString(state), static_cast<int64_t>(error.code()),
                      std::string_view(error.message()), Now()},
                     [&]() -> Status {
                       BACKUP_TRY(RecordAttempt(lease, error), "attempt history");
                       return db_.Run(kSettleBackups, {});
                     });
}

Status SqliteControlStore::RetryJob(const Lease& lease, const Error& error, int64_t run_after_ms) {
  return FencedWrite(
      lease, "retry job", kRetry,
      {static_cast<int64_t>(error.code()), std::string_view(error.message()), run_after_ms, Now()},
      [&] { return RecordAttempt(lease, error); });
}

Status SqliteControlStore::ReleaseJob(const Lease& lease) {
  return FencedWrite(lease, "release job", kRelease, {Now()});
}

Result<int> SqliteControlStore::RescueExpired() {
  int touched = 0;
  {
    std::lock_guard lock(mu_);
    auto tx = sql::Transaction::Begin(db_);
    if (!tx) return Fail(tx.error().Context("rescue expired leases"));
    // One instant for both statements: a lease expiring between two readings of the clock
    // would be requeued without its attempt being recorded.
    const int64_t now = Now();
    BACKUP_TRY(db_.Run(kRecordExpiredAttempts, {now}), "rescue expired leases: attempt history");
    BACKUP_TRY(db_.Run(kRescue, {now}), "rescue expired leases");
    touched = static_cast<int>(db_.Changes());
    if (touched == 0) return 0;
    BACKUP_TRY(db_.Run(kSettleBackups, {}), "rescue expired leases: backup rows");
    BACKUP_TRY(tx->Commit(), "rescue expired leases");
  }
  NotifyChange();
  return touched;
}

Result<QueueStats> SqliteControlStore::Stats() {
  std::lock_guard lock(mu_);
  auto stmt = db_.Prepare(
      "SELECT kind, state, COUNT(*), MIN(created_at) FROM jobs "
      "WHERE state IN ('QUEUED', 'RUNNING') GROUP BY kind, state");
  if (!stmt) return Fail(stmt.error());
  QueueStats stats;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Fail(row.error().Context("queue stats"));
    if (!*row) break;
    auto kind = JobKindFromString(stmt->Text(0));
    auto state = JobStateFromString(stmt->Text(1));
    if (!kind || !state) continue;
    stats.active[{*kind, *state}] = stmt->Int(2);
    if (*state == JobState::kQueued &&
        (stats.oldest_queued_ms == 0 || stmt->Int(3) < stats.oldest_queued_ms)) {
      stats.oldest_queued_ms = stmt->Int(3);
    }
  }
  return stats;
}

}  // namespace backup
