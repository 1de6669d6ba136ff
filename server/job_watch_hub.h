// Follows jobs for every open WatchJob stream and every call waiting for its job (`wait`)
// with one thread, whatever their number: followers are grouped by job, and each change
// of the job table (this process's writes, or another process's seen by the
// ChangeWatcher) re-reads the followed jobs in batches and tells the followers of those
// that changed. A quiet server costs nothing but a timer tick for deadlines.
//
// Thread-safety: Follow/Forget from any thread; follower callbacks run on the hub's thread
// (or, for the first state, on the thread calling Follow), never under the hub's lock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include "control/job_queue.h"

namespace backup {

struct WatchHubOptions {
  int max_followers = 20'000;  // more open streams and waiting calls: RESOURCE_EXHAUSTED
  int64_t tick_ms = 200;       // how late a deadline may be noticed
  // Stop following this long before a call's deadline, so it can still answer with the
  // job instead of failing with DEADLINE_EXCEEDED.
  int64_t deadline_margin_ms = 250;
};

// What tells a job's states apart for its followers: a new state, progress, attempt or
// cancel flag is news; anything else (a lease renewal) is not.
struct JobMark {
  JobState state = JobState::kQueued;
  Progress progress;
  int attempt = 0;
  bool cancel_requested = false;

  static JobMark Of(const Job& job) {
    return {job.state, job.progress, job.attempt, job.cancel_requested};
  }
  bool operator==(const JobMark&) const = default;
};

// One party following one job. Implementations guard their own state: OnJob and OnEnd may
// run on the hub's thread while the party's own RPC thread cancels it.
class JobFollower {
 public:
  virtual ~JobFollower() = default;
  // The job as first read and after every change of its state, progress, attempt or
  // cancel flag, ending with its terminal state. Returns false when it wants no more.
  virtual bool OnJob(const Job& job) = 0;
  // The hub stops following: kDeadlineExceeded (the call's deadline, less the margin,
  // came), kUnavailable (the server is stopping), or the error reading the job (kNotFound
  // once it was pruned). Called at most once, never after OnJob returned false.
  virtual void OnEnd(const Error& why) = 0;
  // True once the party's call ended on its own (its client went away). A party sets it
  // before calling Forget, so a Follow racing with that never keeps it.
  virtual bool Closed() const = 0;
};

class JobWatchHub {
 public:
  using Deadline = std::chrono::system_clock::time_point;

  JobWatchHub(JobQueue& jobs, WatchHubOptions options);
  ~JobWatchHub();  // Stop()
  JobWatchHub(const JobWatchHub&) = delete;
  JobWatchHub& operator=(const JobWatchHub&) = delete;

  // A place for one more follower, taken before the call does anything, so a refused call
  // changes nothing. kResourceExhausted at max_followers. Released by Forget, by the end
  // of the follower, or by Release when the call ends without following.
  Status Reserve();
  void Release();

  // Follows `job_id` for `follower` (holding a reservation) until the job ends, `deadline`
  // (less the margin) comes, or Forget. Reads the job on this thread and hands it to
  // OnJob before returning; fails (releasing the reservation, without calling the
  // follower) when it cannot be read.
  Status Follow(const std::shared_ptr<JobFollower>& follower, const std::string& job_id,
                Deadline deadline);
  // Stops following for `follower` (its client went away); no callback follows.
  void Forget(const JobFollower* follower);

  // Ends every follower with kUnavailable and stops the thread; Follow then fails.
  void Stop();

  int followers() const;

 private:
  struct Entry {
    std::shared_ptr<JobFollower> follower;
    std::string job_id;
    Deadline deadline;
  };
  struct Group {
    JobMark last;  // the state its followers have seen
    std::set<const JobFollower*> followers;
  };
  using Delivery = std::vector<std::pair<std::shared_ptr<JobFollower>, const Job*>>;

  void Loop();
  // Re-reads every followed job and tells the followers of those that changed. False
  // when the jobs could not be read (tried again at the next tick).
  bool Refresh();
  // Which followers hear of which of the `read` jobs (those whose mark changed); the
  // followers of `ids` not read (pruned) are removed into `vanished`.
  Delivery Route(const std::vector<std::string>& ids, const std::vector<Job>& read,
                 std::vector<std::shared_ptr<JobFollower>>& vanished);
  // Ends the followers whose deadline came.
  void ExpireDeadlines();
  // REQUIRES: mu_ held. Removes `f` from every index; returns its entry's follower.
  std::shared_ptr<JobFollower> EraseLocked(const JobFollower* f);
  // Calls OnJob on each; forgets those that want no more.
  void Deliver(const Delivery& delivery);

  JobQueue& jobs_;
  const WatchHubOptions options_;

  mutable std::mutex mu_;
  int reserved_ = 0;  // followers plus reservations not yet following; guarded by mu_
  bool stopping_ = false;
  std::unordered_map<const JobFollower*, Entry> entries_;        // guarded by mu_
  std::unordered_map<std::string, Group> groups_;                // by job id; guarded by mu_
  std::set<std::pair<Deadline, const JobFollower*>> deadlines_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace backup
