// Runs a RESTORE job: rebuilds a collection from a backup, atomically.
//
// 1. Copy the backup's database to a temporary file beside the destination, verifying its
//    SHA-256 as it is read (a mismatch fails with DATA_LOSS before the destination is
//    touched), check it with integrity_check, fsync it. Copy the files folder likewise
//    into a temporary folder, each file checked against the manifest. An archive-format
//    backup is streamed from its store into the same temporary names (download,
//    authenticate, decompress, unpack), every byte checked the same way.
// 2. Record the restore intent in the control database. From here a failed attempt goes
//    back to the queue to finish the swap (a crash is finished by the retry, never undone
//    halfway), until the job's last attempt (see 6).
// 3. Files: the old folder is renamed aside (kept as "<files>.old-<job>"), the new one
//    renamed in. Both renames can be undone until step 4 is done.
// 4. Database: into an existing destination through SQLite's online backup API, in one
//    write transaction of the destination itself. SQLite's own locking and WAL keep
//    applications that hold the collection open consistent (they see the old or the new
//    database, and a stale -wal can never be replayed onto the new pages); a writer that
//    holds the lock longer than the lock wait fails the attempt. A new destination gets
//    the file by rename (after removing any orphaned -wal/-shm at that name).
// 5. Remove the old files folder (nothing can undo the restore now); then register the
//    collection with its restore labels and mark the job SUCCEEDED, in one transaction that
//    also clears the intent.
// 6. When the last attempt (attempt >= max_attempts) cannot finish 3-4, it puts the old
//    files folder back, removes the copies and abandons the intent: the job ends FAILED
//    with its reason and the destination is the old collection. Once the database is
//    replaced only the registration (a control-database write) is left, and it is retried.
//
// Run() reads as these steps: Stage (1, 2), Swap (3, 4, 5), GiveUp (6).
// A backup made without files restores the database only; the files folder is left as
// it is. Thread-safety: Run() may be called from several threads for different jobs.
#pragma once

#include "common/data_layout.h"
#include "control/catalog.h"
#include "control/job_queue.h"
#include "storage/store_set.h"
#include "worker/job_handler.h"

namespace backup {

struct RestoreJobOptions {
  // How long the swap waits for an application's write lock on the destination database.
  int lock_wait_ms = 10'000;
  // Where archive-format backups are read from, and the keys that open them.
  const StoreSet* stores = nullptr;
};

class RestoreJob final : public JobHandler {
 public:
  RestoreJob(Catalog& catalog, DataLayout layout, RestoreJobOptions options = {})
      : catalog_(catalog), layout_(std::move(layout)), options_(options) {}
  Status Run(JobContext& ctx) override;

 private:
  struct Plan;
  Result<Plan> MakePlan(const Job& job) const;
  // Copies and checks the backup beside the destination, then records the intent.
  Status Stage(const Plan& plan, JobContext& ctx) const;
  // Puts files and database in place and registers the collection (steps 3-5).
  Status Swap(const Plan& plan, JobContext& ctx) const;
  // The labels of the collection `source` (when registered) into `record`, but the
  // restore's own.
  void CopySourceLabels(const CollectionName& source, CollectionRecord& record) const;
  // Registers the collection and marks the job SUCCEEDED.
  Status Register(const Plan& plan, JobContext& ctx) const;
  // The last attempt failed with `why` before the database was replaced: puts the old
  // collection back and abandons the intent (step 6). Returns the job's final error.
  Status GiveUp(const Plan& plan, JobContext& ctx, const Error& why) const;

  Catalog& catalog_;
  const DataLayout layout_;
  const RestoreJobOptions options_;
};

// Removes the temporary copies (".restoring-<job>", ".old-<job>") that restores whose job
// has ended without a pending intent left behind, e.g. one whose worker was killed on its
// last attempt. Run at start-up; copies of jobs still queued or running are kept.
Status SweepRestoreLeftovers(JobQueue& jobs, Catalog& catalog, const DataLayout& layout);

}  // namespace backup
