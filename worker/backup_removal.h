// Deleting a backup safely, shared by DeleteBackup (server), policy retention and DELETE
// jobs. The row is marked DELETING before any file goes, so a row never points at a missing
// file without saying so, and a repeated delete finishes an interrupted one. In a fleet a
// backup on another node's disk is not removed here: a DELETE job removes it on its node.
// Thread-safety: stateless; call from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/records.h"
#include "control/catalog.h"
#include "storage/store_set.h"

namespace backup {

// Removes the backup `backup_id`, its files (a plain backup's database and files folder,
// never through a path that now leads outside `backup_roots`; an archive's object in its
// store, with what killed attempts left) and then its row. Returns the bytes freed.
// kFailedPrecondition while a job uses it (nothing is removed then); kNotFound when it is
// gone (also when a concurrent delete finished it first).
Result<int64_t> RemoveBackup(Catalog& catalog, const StoreSet& stores,
                             const std::vector<std::filesystem::path>& backup_roots,
                             const std::string& backup_id);

// Where a process removes backups from: its stores, its backup roots, its node.
struct RemovalSite {
  const StoreSet& stores;
  const std::vector<std::filesystem::path>& backup_roots;
  const std::string& node;
};

struct Removal {
  int64_t bytes_freed = 0;  // here
  std::string delete_job;   // the DELETE job queued on the backup's node; "" removed here
};

// RemoveBackup when `site` reaches the backup, else QueueDeleteOnItsNode. Errors as
// RemoveBackup's.
Result<Removal> RemoveHereOrOnItsNode(Catalog& catalog, const RemovalSite& site,
                                      const std::string& backup_id, const std::string& submitted_by,
                                      int64_t now_ms);

// The files part of RemoveBackup, for a backup already DELETING. Returns the bytes freed.
Result<int64_t> RemoveBackupFiles(const StoreSet& stores,
                                  const std::vector<std::filesystem::path>& backup_roots,
                                  const BackupRecord& backup);

// True when a process on `node` reaches the backup's files (they are on its disk, or in a
// store every node reaches).
inline bool ReachableFrom(const BackupRecord& backup, const std::string& node) {
  return backup.node.empty() || backup.node == node;
}

// Queues the DELETE job that removes `backup` on its node (Catalog::EnqueueDeleteBackup)
// and returns it, or the one already queued. `submitted_by` is recorded on the job.
Result<Job> QueueDeleteOnItsNode(Catalog& catalog, const BackupRecord& backup,
                                 const std::string& submitted_by, int64_t now_ms);

}  // namespace backup
