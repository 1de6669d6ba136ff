// The job queue: the front-end submits, lists, follows and cancels jobs; workers claim
// them, heartbeat, and record what happened, every worker write fenced by the lease
// (job id, owner, attempt). SqliteControlStore implements it; a PostgreSQL store
// (claiming with FOR UPDATE SKIP LOCKED) implements the same interface, and neither the
// pool nor the RPC services change.
//
// Jobs that create or read a backup are enqueued through the Catalog, since their job
// row and their backup row change in one transaction.
//
// Thread-safety: implementations are safe to call from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "common/records.h"

namespace backup {

// What a heartbeat learned.
struct LeaseStatus {
  bool cancel_requested = false;
};

struct JobQuery {
  std::optional<JobState> state;
  std::optional<JobKind> kind;
  std::optional<CollectionName> collection;
  std::vector<std::string> namespace_globs;  // only these namespaces; empty: all
  int page_size = 100;
  std::string page_token;  // the last page's next_page_token; "" for the first page
};

struct JobPage {
  std::vector<Job> jobs;  // newest first
  std::string next_page_token;
};

// The live queue at a glance (metrics, the dashboard).
struct QueueStats {
  std::map<std::pair<JobKind, JobState>, int64_t> active;  // QUEUED and RUNNING jobs by kind
  int64_t oldest_queued_ms = 0;  // created_at of the oldest QUEUED job; 0: none queued
};

class JobQueue {
 public:
  virtual ~JobQueue() = default;

  virtual const Clock& clock() const = 0;

  // --- Front-end side -----------------------------------------------------------------
  // The job with its attempt history. kNotFound for an unknown id.
  virtual Result<Job> GetJob(const std::string& job_id) = 0;
  // The jobs among `job_ids` that exist, with their attempt history, in no set order
  // (unknown ids are left out), a few statements for any number of ids.
  virtual Result<std::vector<Job>> GetJobs(const std::vector<std::string>& job_ids) = 0;
  // The job submitted with `key`, if any.
  virtual Result<std::optional<Job>> FindByIdempotencyKey(const std::string& key) = 0;
  // kInvalidArgument for a page token this store did not hand out.
  virtual Result<JobPage> ListJobs(const JobQuery& query) = 0;
  // A QUEUED job becomes CANCELLED at once (its PENDING backup row follows); a RUNNING
  // one gets cancel_requested, which its worker sees at its next heartbeat. A finished
  // job is returned unchanged.
  virtual Result<Job> CancelJob(const std::string& job_id) = 0;

  virtual Result<QueueStats> Stats() = 0;

  // --- Worker side --------------------------------------------------------------------
  // Claims up to `max` runnable jobs for `owner` with a lease of `lease_ms`, oldest first,
  // in one statement. Never claims a job that conflicts with a running one or with an
  // earlier queued one (a restore into a collection excludes every other job on it), nor
  // a restore or verify of a backup whose own job has not ended.
  virtual Result<std::vector<Job>> Claim(const std::string& owner, int max, int64_t lease_ms) = 0;
  // Renews the lease and records progress. kAborted when the lease was lost.
  virtual Result<LeaseStatus> Heartbeat(const Lease& lease, const Progress& progress,
                                        int64_t lease_ms) = 0;
  // Ends the job FAILED or CANCELLED with `error`; its PENDING backup row follows. A
  // restore past its intent goes back to the queue instead. kAborted when the lease was
  // lost.
  virtual Status FinishJob(const Lease& lease, JobState state, const Error& error) = 0;
  // Back to QUEUED no earlier than `run_after_ms`, keeping `error` in the history.
  virtual Status RetryJob(const Lease& lease, const Error& error, int64_t run_after_ms) = 0;
  // Back to QUEUED at once without spending an attempt (graceful shutdown).
  virtual Status ReleaseJob(const Lease& lease) = 0;
  // Requeues (or fails, when no attempt is left) RUNNING jobs whose lease expired;
  // returns how many it touched.
  virtual Result<int> RescueExpired() = 0;
  // Deletes jobs that finished before `before_ms` with their attempt history (backups
  // are never pruned); returns how many went.
  virtual Result<int> PruneFinishedJobs(int64_t before_ms) = 0;

  // --- Change notification --------------------------------------------------------------
  // A counter bumped after every committed job write this process makes or learns of.
  virtual uint64_t ChangeVersion() const = 0;
  // Waits until the version differs from `seen` or `timeout_ms` passes. Changes made by
  // other processes may only be seen by polling, so callers always pass a timeout.
  virtual void WaitForChange(uint64_t seen, int64_t timeout_ms) const = 0;
  // Bumps the version and wakes every waiter.
  virtual void NotifyChange() = 0;
};

}  // namespace backup
