// The control database: the only mutable state of Collector Backup (jobs, backups,
// collections), in one SQLite file in WAL mode so a job row and its backup row change in
// one transaction. Several processes (backupd, backup-worker) may open the same file;
// SQLite's locking and the lease columns keep them apart.
//
// Thread-safety: every method is safe to call from any thread. One connection is shared
// behind a mutex; WaitForChange() blocks without holding it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "common/job_queue.h"
#include "common/records.h"
#include "common/sqlite.h"

namespace backup {

struct ControlStoreOptions {
  std::string path;                          // the control database file
  int busy_timeout_ms = 10'000;              // wait on another process's write lock
  const Clock* clock = &SystemClock::Get();  // injected by lease tests
};

struct DiscoverQuery {
  std::string ns;                             // empty: all
  std::map<std::string, std::string> labels;  // all must match
  int page_size = 100;
  std::string page_token;
};

struct CollectionPage {
  std::vector<CollectionRecord> collections;
  std::string next_page_token;
};

struct BackupQuery {
  std::optional<CollectionName> collection;
  std::string ns;
  int limit = 0;  // 0: all
  int64_t since_timestamp = 0;
};

struct BackupList {
  std::vector<BackupRecord> backups;  // newest first
  int64_t total_count = 0;
};

struct JobQuery {
  std::optional<JobState> state;
  std::optional<JobKind> kind;
  std::optional<CollectionName> collection;
  int page_size = 100;
  std::string page_token;
};

struct JobPage {
  std::vector<Job> jobs;  // newest first
  std::string next_page_token;
};

class ControlStore final : public JobQueue {
 public:
  // Opens (creating if needed) and migrates the control database.
  static Result<std::unique_ptr<ControlStore>> Open(const ControlStoreOptions& options);

  const Clock& clock() const override { return *options_.clock; }

  // --- Collections -------------------------------------------------------------------
  // Fails with kAlreadyExists when the collection is registered.
  Status CreateCollection(const CollectionRecord& record);
  // Fails with kNotFound ("collection prod/users not found").
  Result<CollectionRecord> GetCollection(const CollectionName& name);
  Result<CollectionPage> Discover(const DiscoverQuery& query);

  // --- Backups -----------------------------------------------------------------------
  // Inserts the QUEUED job and its PENDING backup row in one transaction. Fails with
  // kAlreadyExists when the id or an active backup's storage path is taken.
  Status EnqueueBackup(const Job& job, const BackupRecord& backup);
  Result<BackupRecord> GetBackup(const std::string& backup_id);
  Result<BackupList> ListBackups(const BackupQuery& query);
  Result<std::vector<ManifestEntry>> GetManifest(const std::string& backup_id);
  // Marks the backup COMPLETED (with its final figures and manifest) and the job
  // SUCCEEDED with `result`, in one transaction fenced by `lease`. kAborted when the
  // lease was lost.
  Status CompleteBackup(const Lease& lease, const BackupRecord& backup,
                        const std::vector<ManifestEntry>& manifest, const std::string& result);

  // Inserts a QUEUED job that reads the backup `job.backup_id` (a restore or a verify),
  // in one transaction that checks the backup is COMPLETED: kNotFound for an unknown
  // backup, kFailedPrecondition for one that is not COMPLETED.
  Status EnqueueBackupReader(const Job& job);

  // Marks the backup DELETING and returns it, unless a job that uses it is QUEUED or
  // RUNNING (kFailedPrecondition). A backup already DELETING is returned as it is, so an
  // interrupted delete can be repeated.
  Result<BackupRecord> BeginDeleteBackup(const std::string& backup_id);
  // Removes the backup's row and manifest (after its files are gone).
  Status FinishDeleteBackup(const std::string& backup_id);

  // Records the outcome of a verification on the backup row and marks the job SUCCEEDED
  // with `result`, in one transaction fenced by `lease`.
  Status CompleteVerify(const Lease& lease, const std::string& backup_id, bool valid,
                        const std::string& error, const std::string& result);

  // The restore journal. Once RecordRestoreIntent() has committed, the restore only rolls
  // forward: a retry finishes the swap, and the job is never failed.
  Status RecordRestoreIntent(const Lease& lease);
  Result<bool> HasRestoreIntent(const std::string& job_id);
  // Registers (or updates) the restored collection, marks the job SUCCEEDED with
  // `result` and clears the intent, in one transaction fenced by `lease`.
  Status CompleteRestore(const Lease& lease, const CollectionRecord& collection,
                         const std::string& result);

  // --- Jobs, front-end side ------------------------------------------------------------
  // The job with its attempt history.
  Result<Job> GetJob(const std::string& job_id);
  // The job submitted with `key`, if any.
  Result<std::optional<Job>> FindByIdempotencyKey(const std::string& key);
  // Deletes jobs that finished before `before_ms` (their attempt history with them);
  // backups are never pruned. Returns how many went.
  Result<int> PruneFinishedJobs(int64_t before_ms) override;
  Result<JobPage> ListJobs(const JobQuery& query);
  // A QUEUED job becomes CANCELLED at once; a RUNNING one gets cancel_requested, which
  // its worker sees at its next heartbeat. A finished job is returned unchanged.
  Result<Job> CancelJob(const std::string& job_id);

  // --- Jobs, worker side (every write fenced by the lease) ----------------------------
  // Claims up to `max` runnable jobs for `owner`, oldest first, in one statement, with a
  // lease of `lease_ms`. Never claims a job that conflicts with a running one (a restore
  // into a collection excludes every other job on it).
  Result<std::vector<Job>> Claim(const std::string& owner, int max, int64_t lease_ms) override;
  // Renews the lease and records progress. kAborted when the lease was lost.
  Result<LeaseStatus> Heartbeat(const Lease& lease, const Progress& progress, int64_t lease_ms) override;
  // Ends the job FAILED or CANCELLED with `error`; its PENDING backup row follows.
  Status FinishJob(const Lease& lease, JobState state, const Error& error) override;
  // Puts the job back to QUEUED to run again no earlier than `run_after_ms`, keeping
  // `error` in its attempt history.
  Status RetryJob(const Lease& lease, const Error& error, int64_t run_after_ms) override;
  // Gives the job back at once without spending an attempt (graceful shutdown).
  Status ReleaseJob(const Lease& lease) override;
  // Requeues RUNNING jobs whose lease expired (or fails them when no attempt is left).
  // Returns how many it touched.
  Result<int> RescueExpired() override;

  // --- Change notification --------------------------------------------------------------
  // A counter bumped after every committed job write in this process.
  uint64_t ChangeVersion() const override;
  // Waits until the version differs from `seen` or `timeout_ms` passes (changes made by
  // other processes are only seen by polling, so callers wait with a timeout).
  void WaitForChange(uint64_t seen, int64_t timeout_ms) const override;
  // Bumps the version and wakes every waiter (also used to wake a worker's producer).
  void NotifyChange() override;

 private:
  explicit ControlStore(ControlStoreOptions options, sql::Database db);
  Status Migrate();
  Result<std::map<std::string, std::string>> DecodeJsonMap(const std::string& json);
  Result<std::vector<BackupRecord>> ReadBackups(sql::Statement& stmt);
  Status UpdateLabels(const CollectionRecord& record);
  // Group commit: runs `work` (its statements) inside a transaction shared with the
  // other submissions arriving meanwhile, each under its own SAVEPOINT so one failure
  // undoes only its own rows, and returns once the shared COMMIT (one fsync for all) is
  // durable. The first caller to find no commit in progress leads the batch; the rest wait.
  Status GroupCommit(const std::function<Status()>& work);
  // Inserts a QUEUED job row. REQUIRES: mu_ held, inside a transaction.
  Status InsertJob(const Job& job);
  // Appends to the attempt history. REQUIRES: mu_ held, inside a transaction.
  Status RecordAttempt(const Lease& lease, const Error& error);
  int64_t Now() const { return options_.clock->NowMs(); }

  ControlStoreOptions options_;
  mutable std::mutex mu_;  // guards db_
  sql::Database db_;

  struct PendingWork {
    const std::function<Status()>* work;
    std::optional<Status> result;
  };
  std::mutex batch_mu_;  // guards pending_ and leader_active_
  std::condition_variable batch_cv_;
  std::vector<PendingWork*> pending_;
  bool leader_active_ = false;

  mutable std::mutex change_mu_;
  mutable std::condition_variable change_cv_;
  uint64_t change_version_ = 0;  // guarded by change_mu_
};

// Encodes a string map as a JSON object (the seed's `metadata` column format).
std::string EncodeJsonMap(const std::map<std::string, std::string>& map);

}  // namespace backup
