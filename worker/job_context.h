// What one running job shares with the pool that runs it: its lease, its progress and
// its cancellation flag. The handler's thread updates progress and polls cancelled();
// the pool's monitor thread samples Snapshot() for heartbeats and calls RequestStop().
//
// Thread-safety: every method is safe from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>

#include "common/records.h"

namespace backup {

enum class StopReason { kNone, kCancelRequested, kShutdown, kLeaseLost };

class JobContext {
 public:
  JobContext(Job job, Lease lease) : job_(std::move(job)), lease_(std::move(lease)) {}

  const Job& job() const { return job_; }
  const Lease& lease() const { return lease_; }
  // "job=job-1a2b collection=prod/users", the prefix of every log line about this job.
  std::string LogTag() const;

  void SetPhase(const std::string& phase);
  void SetTotals(int64_t bytes_total, int64_t items_total);
  void AddBytes(int64_t bytes);
  void SetBytesDone(int64_t bytes);
  void AddItems(int64_t items);
  // While set, Snapshot() adds what `probe` returns to the bytes done (for work whose
  // progress is only visible from outside, such as the size of a growing file).
  void SetBytesProbe(std::function<int64_t()> probe);

  // The progress to report: bytes and items never go backwards between two calls.
  Progress Snapshot();

  void RequestStop(StopReason reason);
  bool cancelled() const { return stop_.load(std::memory_order_relaxed) != StopReason::kNone; }
  StopReason stop_reason() const { return stop_.load(); }

  // The handler recorded the job's end (its lease is spent): no more heartbeats, and a
  // lease the queue no longer knows is expected, not lost.
  void MarkRecorded() { recorded_.store(true); }
  bool recorded() const { return recorded_.load(); }

 private:
  const Job job_;
  const Lease lease_;
  std::atomic<StopReason> stop_{StopReason::kNone};
  std::atomic<bool> recorded_{false};

  std::mutex mu_;  // guards everything below
  Progress progress_;
  Progress reported_;
  std::function<int64_t()> probe_;
};

}  // namespace backup
