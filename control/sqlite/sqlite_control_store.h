// The control database in SQLite: the job queue and the catalogue in one file in WAL mode,
// so a job row and its backup row change in one transaction. Several processes (backupd,
// backup-worker) may open the same file; SQLite's locking and the lease columns keep them
// apart. The queries live in one file per concern (job_queries.cc, backup_queries.cc,
// collection_queries.cc, lifecycle_queries.cc); this class owns the connection, group
// commit, the lease fence and change notification.
//
// Thread-safety: every method is safe to call from any thread. One connection is shared
// behind a mutex; WaitForChange() blocks without holding it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "common/records.h"
#include "common/sqlite.h"
#include "control/change_signal.h"
#include "control/control_store.h"

namespace backup {

struct SqliteControlStoreOptions {
  std::string path;                          // the control database file
  int busy_timeout_ms = 10'000;              // wait on another process's write lock
  const Clock* clock = &SystemClock::Get();  // injected by lease tests
  std::string node;  // Claim takes only jobs of this node and jobs of none ("")
};

class SqliteControlStore final : public ControlStore {
 public:
  // Opens (creating if needed) and migrates the control database.
  static Result<std::unique_ptr<SqliteControlStore>> Open(const SqliteControlStoreOptions& options);

  const Clock& clock() const override { return *options_.clock; }

  // Catalog: collections (collection_queries.cc).
  Status CreateCollection(const CollectionRecord& record) override;
  Result<CollectionRecord> GetCollection(const CollectionName& name) override;
  Result<CollectionPage> Discover(const DiscoverQuery& query) override;
  Result<std::vector<CollectionBackupStats>> BackupStats() override;

  // Catalog: backups (backup_queries.cc).
  Status EnqueueBackup(const Job& job, const BackupRecord& backup) override;
  Result<BackupRecord> GetBackup(const std::string& backup_id) override;
  Result<BackupList> ListBackups(const BackupQuery& query) override;
  Result<std::vector<ManifestEntry>> GetManifest(const std::string& backup_id) override;
  Status CompleteBackup(const Lease& lease, const BackupRecord& backup,
                        const std::vector<ManifestEntry>& manifest,
                        const std::string& result) override;

  // Catalog: readers of a backup, deletion, the restore journal (lifecycle_queries.cc).
  Status EnqueueBackupReader(const Job& job) override;
  Status CompleteVerify(const Lease& lease, const std::string& backup_id, bool valid,
                        const std::string& error, const std::string& result) override;
  Result<BackupRecord> BeginDeleteBackup(const std::string& backup_id) override;
  Status FinishDeleteBackup(const std::string& backup_id) override;
  Result<Job> EnqueueDeleteBackup(const Job& job) override;
  Status CompleteDeleteBackup(const Lease& lease, const std::string& backup_id,
                              const std::string& result) override;
  Status RecordRestoreIntent(const Lease& lease) override;
  Result<bool> HasRestoreIntent(const std::string& job_id) override;
  Status AbandonRestoreIntent(const Lease& lease) override;
  Status CompleteRestore(const Lease& lease, const CollectionRecord& collection,
                         const std::string& result) override;

  // PolicyStore (policy_queries.cc).
  Status CreatePolicy(const PolicyRecord& policy) override;
  Result<PolicyRecord> GetPolicy(const std::string& name) override;
  Result<std::vector<PolicyRecord>> ListPolicies(
      const std::vector<std::string>& namespace_globs) override;
  Status UpdatePolicy(const PolicyRecord& policy) override;
  Status DeletePolicy(const std::string& name) override;
  Result<bool> AdvancePolicySlot(const std::string& name, int64_t slot) override;

  // JobQueue (job_queries.cc).
  Result<Job> GetJob(const std::string& job_id) override;
  Result<std::vector<Job>> GetJobs(const std::vector<std::string>& job_ids) override;
  Result<std::optional<Job>> FindByIdempotencyKey(const std::string& key) override;
  Result<JobPage> ListJobs(const JobQuery& query) override;
  Result<QueueStats> Stats() override;
  Result<Job> CancelJob(const std::string& job_id) override;
  Result<std::vector<Job>> Claim(const std::string& owner, int max, int64_t lease_ms) override;
  Result<LeaseStatus> Heartbeat(const Lease& lease, const Progress& progress,
                                int64_t lease_ms) override;
  Status FinishJob(const Lease& lease, JobState state, const Error& error) override;
  Status RetryJob(const Lease& lease, const Error& error, int64_t run_after_ms) override;
  Status ReleaseJob(const Lease& lease) override;
  Result<int> RescueExpired() override;
  Result<int> PruneFinishedJobs(int64_t before_ms) override;

  uint64_t ChangeVersion() const override;
  void WaitForChange(uint64_t seen, int64_t timeout_ms) const override;
  void NotifyChange() override;

 private:
  SqliteControlStore(SqliteControlStoreOptions options, sql::Database db);
  Status Migrate();

  // The one lease-fenced write. In one transaction: runs `update` (an "UPDATE jobs SET
  // ..." without a WHERE clause; parameters ?1-?3 are bound to the lease's job id, owner
  // and attempt, `params` to ?4 onwards) on the job only while `lease` still holds it,
  // then `then` (further writes of the same transaction, may be empty); commits and
  // notifies waiters. kAborted ("<what>: job ... is no longer leased to this worker")
  // when the lease no longer holds; nothing is written then.
  Status FencedWrite(const Lease& lease, std::string_view what, std::string_view update,
                     std::initializer_list<sql::Value> params,
                     const std::function<Status()>& then = {});
  // A fenced write that marks the leased job SUCCEEDED with `result`, its progress all
  // done (`totals`, when given, replace the totals first: bytes, items), then runs `then`.
  Status SucceedJob(const Lease& lease, std::string_view what, const std::string& result,
                    std::optional<std::pair<int64_t, int64_t>> totals,
                    const std::function<Status()>& then);

  // Group commit: runs `work` (its statements) inside a transaction shared with the
  // other submissions arriving meanwhile, each under its own SAVEPOINT so one failure
  // undoes only its own rows, and returns once the shared COMMIT (one fsync for all) is
  // durable. The first caller to find no commit in progress leads the batch; the rest wait.
  Status GroupCommit(const std::function<Status()>& work);
  struct PendingWork {
    const std::function<Status()>* work;
    std::optional<Status> result;  // guarded by batch_mu_
  };
  // Runs one batch of group commit; returns each item's outcome, in order. REQUIRES: this
  // thread leads the batch (the items' `result` is published by the caller, under
  // batch_mu_).
  std::vector<Status> CommitBatch(const std::vector<PendingWork*>& batch);

  Result<std::map<std::string, std::string>> DecodeJsonMap(const std::string& json);
  Result<std::vector<BackupRecord>> ReadBackups(sql::Statement& stmt);
  Result<std::vector<PolicyRecord>> ReadPolicies(sql::Statement& stmt);
  // REQUIRES: mu_ held, inside a transaction (as the helpers below).
  Status UpdateLabels(const CollectionRecord& record);
  Status InsertJob(const Job& job);
  // Marks the backup DELETING unless a job other than a DELETE uses it (kFailedPrecondition).
  Status MarkDeleting(const std::string& backup_id);
  Status RecordAttempt(const Lease& lease, const Error& error);
  int64_t Now() const { return options_.clock->NowMs(); }

  SqliteControlStoreOptions options_;
  mutable std::mutex mu_;  // guards db_
  sql::Database db_;

  std::mutex batch_mu_;  // guards pending_ and leader_active_
  std::condition_variable batch_cv_;
  std::vector<PendingWork*> pending_;
  bool leader_active_ = false;

  ChangeSignal changes_;
};

}  // namespace backup
