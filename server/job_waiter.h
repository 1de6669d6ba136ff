// Follows one job until it ends: the loop behind WatchJob and the `wait` flag. Wakes at
// once on changes made in this process and polls for changes made by other processes
// (separate backup-worker processes).
// Thread-safety: stateless; call from any RPC thread.
#pragma once

#include <chrono>
#include <functional>

#include <grpcpp/server_context.h>

#include "control/job_queue.h"

namespace backup {

struct WaitOptions {
  int64_t poll_ms = 200;  // upper bound on how stale a change from another process can be
  // Stop this long before the client's deadline, so the caller can still answer with
  // the job instead of letting the call fail with DEADLINE_EXCEEDED.
  int64_t deadline_margin_ms = 250;
};

// Calls `on_change` with the job at once and after every change of its state, progress,
// attempt or cancel flag. Returns the last job read when it reached a terminal state, the
// client went away, the deadline (less the margin) came near, or `on_change` returned
// false. Fails with kNotFound for an unknown job.
Result<Job> FollowJob(JobQueue& jobs, const std::string& job_id, const grpc::ServerContext& context,
                      const WaitOptions& options, const std::function<bool(const Job&)>& on_change);

// For the `wait` flag: follows the job without streaming. Returns it once SUCCEEDED, or
// still running when the deadline came near (so the caller can answer with the handle);
// fails with the job's own error when it FAILED or was CANCELLED.
Result<Job> AwaitJob(JobQueue& jobs, const std::string& job_id, const grpc::ServerContext& context,
                     const WaitOptions& options);

}  // namespace backup
