// The worker: claims jobs from the control database and runs them on an
// asio::thread_pool, in three parts. A producer thread claims only as many jobs as
// there are free threads (woken at once by in-process submissions, and by polling for
// other processes'); a monitor thread heartbeats every running job (renewing its lease,
// recording its progress, learning of cancellation) and rescues jobs whose lease expired;
// the pool records each handler's outcome (done, retry with backoff, failed, cancelled).
//
// Thread-safety: Start() and Stop() from one controlling thread; everything else is
// internal.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <asio/thread_pool.hpp>

#include "control/job_queue.h"
#include "worker/job_context.h"
#include "worker/job_handler.h"
#include "worker/process_metrics.h"

namespace backup {

struct WorkerPoolOptions {
  int threads = 2;                // jobs run at once; 0 disables the pool
  std::string worker_id;          // lease owner; empty: "<host>-<pid>-<random>"
  int64_t lease_ms = 30'000;      // a job whose worker stops heartbeating is rescued after this
  int64_t heartbeat_ms = 250;     // progress, lease renewal and cancellation checks
  int64_t poll_ms = 500;          // how often to look for jobs submitted by other processes
  int64_t retry_base_ms = 1'000;  // first retry delay; doubles per attempt, with jitter
  int64_t retry_max_ms = 60'000;  // cap on the retry delay
  int64_t shutdown_grace_ms = 10'000;                 // Stop() lets running jobs finish this long
  int64_t job_retention_ms = 7LL * 24 * 3600 * 1000;  // finished jobs are pruned after this
  int64_t prune_interval_ms = 3600LL * 1000;          // how often to prune
  int64_t sweep_interval_ms = 60'000;                 // how often the sweep (SetSweep) runs
};

class WorkerPool {
 public:
  WorkerPool(JobQueue& queue, WorkerPoolOptions options);
  ~WorkerPool();

  // Registers the handler for `kind`. REQUIRES: before Start().
  void SetHandler(JobKind kind, std::unique_ptr<JobHandler> handler);
  // Counts started and ended attempts into `metrics` (outlives the pool). REQUIRES: before
  // Start().
  void SetMetrics(JobMetrics* metrics) { metrics_ = metrics; }
  // Runs `sweep` (removing what killed attempts left on this host) every
  // sweep_interval_ms, and every second while it returns false (it could not decide
  // about everything, say while the control database restarts). REQUIRES: before Start().
  void SetSweep(std::function<bool()> sweep) { sweep_ = std::move(sweep); }
  void Start();
  // Stops claiming, waits up to the grace period for running jobs, then interrupts the
  // rest and gives them back (without spending an attempt) for another worker to take.
  void Stop();

  const std::string& worker_id() const { return options_.worker_id; }

 private:
  void ProduceLoop();
  void MonitorLoop();
  // The monitor's periodic chores: rescues of expired leases, pruning, the sweep.
  void Housekeep(int64_t now);
  // Starts a claimed job on the thread pool.
  void Dispatch(Job job);
  void RunJob(const std::shared_ptr<JobContext>& ctx);
  // Records a failed attempt's outcome; returns it as JobMetrics names it.
  std::string_view RecordOutcome(JobContext& ctx, const Status& outcome);

  JobQueue& queue_;
  WorkerPoolOptions options_;
  std::map<JobKind, std::unique_ptr<JobHandler>> handlers_;
  JobMetrics* metrics_ = nullptr;
  std::function<bool()> sweep_;
  // When each chore last ran, and whether the sweep left something undecided; the
  // monitor thread's alone.
  int64_t last_rescue_ = 0, last_prune_ = 0, last_sweep_ = 0;
  bool sweep_undecided_ = false;
  std::unique_ptr<asio::thread_pool> pool_;
  std::thread producer_;
  std::thread monitor_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> free_slots_{0};

  std::mutex mu_;  // guards running_
  std::map<std::string, std::shared_ptr<JobContext>> running_;
};

}  // namespace backup
