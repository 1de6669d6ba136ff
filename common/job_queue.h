// The queue as the worker pool sees it: claim, heartbeat, and record what happened, every
// write fenced by the lease. ControlStore (SQLite) implements it today; a PostgreSQL store
// (claiming with FOR UPDATE SKIP LOCKED) for workers on many machines would implement the
// same interface, and the pool would not change.
//
// Thread-safety: implementations are safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "common/records.h"

namespace backup {

// What a heartbeat learned.
struct LeaseStatus {
  bool cancel_requested = false;
};

class JobQueue {
 public:
  virtual ~JobQueue() = default;

  virtual const Clock& clock() const = 0;
  // Claims up to `max` runnable jobs for `owner` with a lease of `lease_ms`, oldest first,
  // never two conflicting jobs at once.
  virtual Result<std::vector<Job>> Claim(const std::string& owner, int max, int64_t lease_ms) = 0;
  // Renews the lease and records progress. kAborted when the lease was lost.
  virtual Result<LeaseStatus> Heartbeat(const Lease& lease, const Progress& progress,
                                        int64_t lease_ms) = 0;
  // Ends the job FAILED or CANCELLED with `error`. kAborted when the lease was lost.
  virtual Status FinishJob(const Lease& lease, JobState state, const Error& error) = 0;
  // Back to QUEUED no earlier than `run_after_ms`, keeping `error` in the history.
  virtual Status RetryJob(const Lease& lease, const Error& error, int64_t run_after_ms) = 0;
  // Back to QUEUED at once without spending an attempt.
  virtual Status ReleaseJob(const Lease& lease) = 0;
  // Requeues (or fails) jobs whose lease expired; returns how many.
  virtual Result<int> RescueExpired() = 0;
  // Deletes jobs finished before `before_ms`; returns how many.
  virtual Result<int> PruneFinishedJobs(int64_t before_ms) = 0;

  // Change notification: a version bumped on every job write this process sees.
  virtual uint64_t ChangeVersion() const = 0;
  virtual void WaitForChange(uint64_t seen, int64_t timeout_ms) const = 0;
  virtual void NotifyChange() = 0;
};

}  // namespace backup
