// The control database on PostgreSQL, for a fleet of hosts sharing one queue: the same
// job queue, catalogue and policies as SqliteControlStore, with
// - claims by one UPDATE over a SELECT ... FOR UPDATE SKIP LOCKED that also applies the
//   exclusivity rules, claims serialised by a transaction advisory lock so every claim
//   sees the claims before it (see job_queries.cc);
// - every time a lease or a queue decision depends on taken from the database's clock
//   (backup_now_ms()), unless a test injects a clock;
// - every worker write fenced by (job id, owner, attempt), as in SQLite;
// - wake-ups by LISTEN/NOTIFY on a connection of its own (every job write NOTIFYs in its
//   transaction), with the callers' polling as the fallback;
// - versioned migrations applied under an advisory lock, so processes starting at once
//   apply each one once;
// - a small pool of connections, each reconnected when it breaks (a restarted server):
//   a call on a broken connection fails kUnavailable (callers retry, workers' leases are
//   rescued), a transaction whose BEGIN finds the connection gone is retried once on a
//   fresh one, since nothing of it ran.
// The queries live in one file per concern, as in the SQLite store.
//
// Thread-safety: every method is safe to call from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "common/records.h"
#include "control/change_signal.h"
#include "control/control_store.h"
#include "control/postgres/pg.h"

namespace backup {

struct PostgresControlStoreOptions {
  std::string conninfo;  // postgres://user@host:port/db?... (libpq's URI)
  int pool_size = 4;     // connections for calls; LISTEN takes one more
  // Null: the database's clock decides leases and due times. Tests inject a fake one.
  const Clock* clock = nullptr;
  std::string node;  // Claim takes only jobs of this node and jobs of none ("")
};

class PostgresControlStore final : public ControlStore {
 public:
  // Connects, migrates the schema and starts listening. kUnavailable when the server
  // cannot be reached.
  static Result<std::unique_ptr<PostgresControlStore>> Open(PostgresControlStoreOptions options);
  ~PostgresControlStore() override;

  const Clock& clock() const override { return *clock_; }

  // Catalog: collections (pg_collection_queries.cc).
  Status CreateCollection(const CollectionRecord& record) override;
  Result<CollectionRecord> GetCollection(const CollectionName& name) override;
  Result<CollectionPage> Discover(const DiscoverQuery& query) override;
  Result<std::vector<CollectionBackupStats>> BackupStats() override;

  // Catalog: backups (pg_backup_queries.cc).
  Status EnqueueBackup(const Job& job, const BackupRecord& backup) override;
  Result<BackupRecord> GetBackup(const std::string& backup_id) override;
  Result<BackupList> ListBackups(const BackupQuery& query) override;
  Result<std::vector<ManifestEntry>> GetManifest(const std::string& backup_id) override;
  Status CompleteBackup(const Lease& lease, const BackupRecord& backup,
                        const std::vector<ManifestEntry>& manifest,
                        const std::string& result) override;

  // Catalog: readers of a backup, deletion, the restore journal (pg_lifecycle_queries.cc).
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

  // PolicyStore (pg_policy_queries.cc).
  Status CreatePolicy(const PolicyRecord& policy) override;
  Result<PolicyRecord> GetPolicy(const std::string& name) override;
  Result<std::vector<PolicyRecord>> ListPolicies(
      const std::vector<std::string>& namespace_globs) override;
  Status UpdatePolicy(const PolicyRecord& policy) override;
  Status DeletePolicy(const std::string& name) override;
  Result<bool> AdvancePolicySlot(const std::string& name, int64_t slot) override;

  // JobQueue (pg_job_queries.cc).
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
  class DatabaseClock;
  using Work = std::function<Status(pg::Connection&)>;

  explicit PostgresControlStore(PostgresControlStoreOptions options);
  Status Migrate();

  // Runs `work` on a pooled connection (outside a transaction: one statement's reads).
  Status WithConnection(std::string_view what, const Work& work);
  // Runs `work` in a transaction (READ COMMITTED) and commits; with `notify`, the
  // transaction also NOTIFYs the other processes, and this one's waiters after it. When
  // the connection breaks during COMMIT, whether it committed is unknown: then
  // `*commit_unknown` (when given) is set as well as the error returned.
  Status Transact(std::string_view what, const Work& work, bool notify,
                  bool* commit_unknown = nullptr);
  // The fenced write: runs `update` ("UPDATE jobs SET ..." without WHERE; $1-$3 are the
  // lease's job id, owner and attempt, `params` $4 onwards) on the job only while `lease`
  // holds it, then `then` in the same transaction. kAborted when the lease is lost.
  Status FencedWrite(const Lease& lease, std::string_view what, std::string_view update,
                     std::vector<pg::Value> params, const Work& then = {},
                     bool* commit_unknown = nullptr);
  // Marks the leased job SUCCEEDED (see the SQLite store). Should the connection break
  // during its COMMIT, it reads the job back (retrying for up to a minute) before
  // answering: a worker told "failed" would remove the files of a backup the database
  // has recorded as complete.
  Status SucceedJob(const Lease& lease, std::string_view what, const std::string& result,
                    std::optional<std::pair<int64_t, int64_t>> totals, const Work& then);

  // The "now" parameter of every query: the injected clock's time, or NULL for the
  // database's own (SQL: backup_now_ms($n)).
  std::optional<int64_t> Now() const {
    return options_.clock ? std::optional(options_.clock->NowMs()) : std::nullopt;
  }

  // Helpers that run inside a transaction on `c`.
  Status InsertJob(pg::Connection& c, const Job& job);
  // Marks the backup DELETING unless a job other than a DELETE uses it (kFailedPrecondition).
  Status MarkDeleting(pg::Connection& c, const std::string& backup_id);
  Status RecordAttempt(pg::Connection& c, const Lease& lease, const Error& error);
  Status UpdateLabels(pg::Connection& c, const CollectionRecord& record);
  Result<std::vector<Job>> ReadJobsWithAttempts(pg::Connection& c, std::string_view where,
                                                const std::vector<pg::Value>& params);

  Result<std::unique_ptr<pg::Connection>> Acquire();
  void Release(std::unique_ptr<pg::Connection> connection);
  void ListenLoop();

  PostgresControlStoreOptions options_;
  std::unique_ptr<Clock> own_clock_;
  const Clock* clock_ = nullptr;

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<pg::Connection>> idle_;  // guarded by pool_mu_
  int open_ = 0;                                       // guarded by pool_mu_

  ChangeSignal changes_;

  std::atomic<bool> stopping_{false};
  int stop_fd_ = -1;  // an eventfd that wakes the listener to stop
  std::thread listener_;
};

// Decodes backup_map_hex()'s "hexkey:hexvalue,..." (the SQL side of a string map).
Result<std::map<std::string, std::string>> DecodeHexMap(std::string_view text);

}  // namespace backup
