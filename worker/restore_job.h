// Runs a RESTORE job: rebuilds a collection from a backup, atomically.
//
// 1. Copy the backup's database to a temporary file beside the destination, verifying its
//    SHA-256 as it is read (a mismatch fails with DATA_LOSS before the destination is
//    touched), check it with integrity_check, fsync it. Copy the files folder likewise
//    into a temporary folder, each file checked against the manifest.
// 2. Record the restore intent in the control database. From here the restore only rolls
//    forward: a crash is finished by the retry, never undone halfway.
// 3. Database: into an existing destination through SQLite's online backup API, in one
//    write transaction of the destination itself. SQLite's own locking and WAL keep
//    applications that hold the collection open consistent (they see the old or the new
//    database, and a stale -wal can never be replayed onto the new pages); a writer that
//    holds the lock makes the step retry later. A new destination gets the file by rename
//    (after removing any orphaned -wal/-shm at that name).
// 4. Files: the old folder is renamed aside, the new one renamed in, the old one removed.
// 5. Register the collection with its restore labels and mark the job SUCCEEDED, in one
//    transaction that also clears the intent.
//
// Run() reads as these steps: Stage (1), the intent (2), Swap (3, 4), Register (5).
// A backup made without files restores the database only; the files folder is left as
// it is. Thread-safety: Run() may be called from several threads for different jobs.
#pragma once

#include "common/data_layout.h"
#include "control/catalog.h"
#include "control/job_queue.h"
#include "worker/job_handler.h"

namespace backup {

class RestoreJob final : public JobHandler {
 public:
  RestoreJob(Catalog& catalog, DataLayout layout) : catalog_(catalog), layout_(std::move(layout)) {}
  Status Run(JobContext& ctx) override;

 private:
  struct Plan;
  Result<Plan> MakePlan(const Job& job) const;
  // Copies and checks the backup beside the destination, then records the intent.
  Status Stage(const Plan& plan, JobContext& ctx) const;
  // Registers the collection and marks the job SUCCEEDED.
  Status Register(const Plan& plan, JobContext& ctx) const;

  Catalog& catalog_;
  const DataLayout layout_;
};

// Removes the temporary copies (".restoring-<job>", ".old-<job>") that restores whose job
// has ended without a pending intent left behind, e.g. one whose worker was killed on its
// last attempt. Run at start-up; copies of jobs still queued or running are kept.
Status SweepRestoreLeftovers(JobQueue& jobs, Catalog& catalog, const DataLayout& layout);

}  // namespace backup
