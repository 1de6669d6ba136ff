// Runs backup policies: in every process that runs jobs, a thread looks at the policies
// once a tick and queues the backups of each slot that has come, then follows the jobs it
// queued to queue their verify and apply retention once they succeed.
//
// Exactly once per slot, however many processes run a scheduler: a slot's backup of a
// collection carries the idempotency key PolicyJobKey(policy, slot, collection), which
// the job table holds unique, so one process's insert wins and the others' fail; the
// policy's last_slot then moves past the slot (AdvancePolicySlot), so the slot never runs
// again once its jobs are pruned. Only the latest slot due runs after downtime (one run,
// not one per missed slot). A process killed between the two steps leaves the slot to the
// next tick of any process, whose inserts find the keys already taken.
//
// Thread-safety: Start() and Stop() from one controlling thread; Tick() from one thread at
// a time (the scheduler's, or a test's when it was not started).
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control/catalog.h"
#include "control/job_queue.h"
#include "control/policy_store.h"
#include "storage/store_set.h"

namespace backup {

struct PolicySchedulerOptions {
  int64_t tick_ms = 1'000;  // how often the policies are read
  int max_attempts = 3;     // of each scheduled job
  // The node this process runs on: retention queues DELETE jobs for backups on other
  // nodes' disks (worker/backup_removal.h). Set by WorkerHost.
  std::string node;
};

class PolicyScheduler {
 public:
  PolicyScheduler(PolicyStore& policies, Catalog& catalog, JobQueue& jobs, const StoreSet& stores,
                  std::vector<std::filesystem::path> backup_roots, PolicySchedulerOptions options);
  ~PolicyScheduler();
  PolicyScheduler(const PolicyScheduler&) = delete;
  PolicyScheduler& operator=(const PolicyScheduler&) = delete;

  void Start();
  // Stops the thread after its current tick. Idempotent.
  void Stop();

  // One pass at `now`: queues the backups of every due slot, then follows up the jobs
  // queued earlier. Errors are logged; the next tick tries again.
  void Tick(std::chrono::sys_seconds now);

 private:
  // A job this scheduler queued, until it ends: a slot's backup, or the verify queued
  // after it (whose end is a second chance for retention: a backup a verify was reading
  // is spared "in use", and a paused policy runs no further slot to catch it up).
  struct Followed {
    std::string policy;
    std::string key;
    bool verify = false;
  };
  void RunSlot(const PolicyRecord& policy, std::chrono::sys_seconds slot);
  Status QueueBackup(const PolicyRecord& policy, std::chrono::sys_seconds slot,
                     const CollectionRecord& collection);
  void FollowUp();
  void AfterSuccess(const Job& job, const Followed& followed);
  void Retain(const PolicyRecord& policy, const CollectionName& collection);

  PolicyStore& policies_;
  Catalog& catalog_;
  JobQueue& jobs_;
  const StoreSet& stores_;
  std::vector<std::filesystem::path> backup_roots_;
  PolicySchedulerOptions options_;
  std::map<std::string, Followed> followed_;  // by job id; touched by Tick() only

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

// The collections `policy` selects now (its namespace, its one collection if it names
// one, those carrying all its labels); a named collection that does not exist selects none.
Result<std::vector<CollectionRecord>> SelectCollections(Catalog& catalog,
                                                        const PolicyRecord& policy);

// When slot `slot` of policy `name` runs: `slot` plus a delay in [0, jitter_s) that every
// process computes alike (FNV-1a of the name and the slot).
std::chrono::sys_seconds JitteredSlot(const std::string& name, std::chrono::sys_seconds slot,
                                      int64_t jitter_s);

}  // namespace backup
