// The catalogue: the collection registry, the backups with their manifests, and the
// restore journal. The calls that start or end a job on a backup also write the job row,
// in the same transaction, so a job and its backup never disagree: enqueueing a backup
// inserts its job and its PENDING row together, completing it marks the row COMPLETED and
// the job SUCCEEDED together (fenced by the lease, as every worker write).
// SqliteControlStore implements it; a PostgreSQL store implements the same interface.
//
// Thread-safety: implementations are safe to call from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/records.h"

namespace backup {

struct DiscoverQuery {
  std::string ns;                             // empty: all
  std::vector<std::string> namespace_globs;   // only these namespaces; empty: all
  std::map<std::string, std::string> labels;  // all must match
  int page_size = 100;
  std::string page_token;  // the last page's next_page_token; "" for the first page
};

struct CollectionPage {
  std::vector<CollectionRecord> collections;
  std::string next_page_token;  // the last collection's "namespace/name"
};

// The collection a Discover page token names (names never hold '/'); {"", ""} for "".
inline CollectionName SplitPageToken(const std::string& token) {
  const size_t slash = token.find('/');
  if (slash == std::string::npos) return {token, ""};
  return {token.substr(0, slash), token.substr(slash + 1)};
}

struct BackupQuery {
  std::optional<CollectionName> collection;
  std::string ns;
  std::vector<std::string> namespace_globs;  // only these namespaces; empty: all
  int limit = 0;                             // 0: all
  int64_t since_timestamp = 0;
  // Only backups listed after this one (in newest-first order): the previous page's last.
  struct Position {
    int64_t timestamp = 0;
    int64_t created_at_ms = 0;
    std::string id;
  };
  std::optional<Position> after;
};

struct BackupList {
  std::vector<BackupRecord> backups;  // newest first
  int64_t total_count = 0;
};

// One collection's backups at a glance (metrics, the dashboard).
struct CollectionBackupStats {
  CollectionName collection;
  int64_t completed = 0;           // COMPLETED backups
  int64_t last_completed_at = 0;   // unix seconds the newest one completed; 0: none
  int64_t last_verified_at = 0;    // unix seconds of the latest verify of any backup; 0: none
  bool last_verify_valid = false;  // that verify's verdict
};

class Catalog {
 public:
  virtual ~Catalog() = default;

  // --- Collections ----------------------------------------------------------------------
  // kAlreadyExists when the collection is registered.
  virtual Status CreateCollection(const CollectionRecord& record) = 0;
  // kNotFound ("collection prod/users not found").
  virtual Result<CollectionRecord> GetCollection(const CollectionName& name) = 0;
  virtual Result<CollectionPage> Discover(const DiscoverQuery& query) = 0;

  // Every registered collection, by name.
  virtual Result<std::vector<CollectionBackupStats>> BackupStats() = 0;

  // --- Backups --------------------------------------------------------------------------
  // Inserts the QUEUED job and its PENDING backup row in one transaction. kAlreadyExists
  // when the id or an active backup's storage path is taken; nothing is written then.
  virtual Status EnqueueBackup(const Job& job, const BackupRecord& backup) = 0;
  // kNotFound for an unknown id.
  virtual Result<BackupRecord> GetBackup(const std::string& backup_id) = 0;
  virtual Result<BackupList> ListBackups(const BackupQuery& query) = 0;
  virtual Result<std::vector<ManifestEntry>> GetManifest(const std::string& backup_id) = 0;
  // Marks the backup COMPLETED (with its final figures and manifest) and the job
  // SUCCEEDED with `result`, in one transaction fenced by `lease`. kAborted when the
  // lease was lost or the backup is no longer PENDING.
  virtual Status CompleteBackup(const Lease& lease, const BackupRecord& backup,
                                const std::vector<ManifestEntry>& manifest,
                                const std::string& result) = 0;

  // Inserts a QUEUED job that reads the backup `job.backup_id` (a restore or a verify),
  // in one transaction that checks the backup is COMPLETED or PENDING: kNotFound for an
  // unknown backup, kFailedPrecondition for any other state. The reader of a PENDING
  // backup is not claimed until the backup's own job has ended (and then fails with
  // kFailedPrecondition if that job did not complete the backup).
  virtual Status EnqueueBackupReader(const Job& job) = 0;
  // Records the outcome of a verification on the backup row and marks the job SUCCEEDED
  // with `result`, in one transaction fenced by `lease`.
  virtual Status CompleteVerify(const Lease& lease, const std::string& backup_id, bool valid,
                                const std::string& error, const std::string& result) = 0;

  // Marks the backup DELETING and returns it, unless a job that uses it (other than a
  // DELETE job) is QUEUED or RUNNING (kFailedPrecondition). A backup already DELETING is
  // returned as it is, so an interrupted delete can be repeated.
  virtual Result<BackupRecord> BeginDeleteBackup(const std::string& backup_id) = 0;
  // Removes the backup's row and manifest (after its files are gone).
  virtual Status FinishDeleteBackup(const std::string& backup_id) = 0;
  // For a backup on another node's disk: marks it DELETING and inserts the QUEUED DELETE
  // job `job` (job.node: the backup's node) in one transaction, and returns the job that
  // will remove it: `job`, or the DELETE of the same backup already queued or running.
  // kNotFound for an unknown backup; kFailedPrecondition while another job uses it.
  virtual Result<Job> EnqueueDeleteBackup(const Job& job) = 0;
  // Removes the backup's row and manifest (its files are gone) and marks the DELETE job
  // SUCCEEDED with `result`, in one transaction fenced by `lease`. A row already gone is
  // not an error (a delete on its node finished it first).
  virtual Status CompleteDeleteBackup(const Lease& lease, const std::string& backup_id,
                                      const std::string& result) = 0;

  // --- The restore journal --------------------------------------------------------------
  // Once RecordRestoreIntent() has committed, a failed attempt goes back to the queue to
  // finish the swap (FinishJob requeues it) until the restore's last attempt, which either
  // finishes or puts the old collection back and abandons the intent, after which the job
  // ends FAILED. kAborted when the lease was lost.
  virtual Status RecordRestoreIntent(const Lease& lease) = 0;
  virtual Result<bool> HasRestoreIntent(const std::string& job_id) = 0;
  // Clears the intent (the last attempt gave up, the old collection is back in place), so
  // the job's failure is final. Fenced by `lease`.
  virtual Status AbandonRestoreIntent(const Lease& lease) = 0;
  // Registers (or updates) the restored collection, marks the job SUCCEEDED with
  // `result` and clears the intent, in one transaction fenced by `lease`.
  virtual Status CompleteRestore(const Lease& lease, const CollectionRecord& collection,
                                 const std::string& result) = 0;
};

}  // namespace backup
