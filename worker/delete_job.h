// Runs a DELETE job: removes a backup on the node whose disk holds it, for a DeleteBackup
// or a retention pass called on another node (worker/backup_removal.h). The backup is
// already DELETING (the job was queued with it); a backup already gone counts as deleted.
// Thread-safety: Run() may be called from several threads at once for different jobs.
#pragma once

#include <filesystem>
#include <vector>

#include "control/catalog.h"
#include "storage/store_set.h"
#include "worker/job_handler.h"

namespace backup {

struct DeleteJobOptions {
  std::vector<std::filesystem::path> backup_roots;  // plain backups are removed only inside
  const StoreSet* stores = nullptr;                 // where archives are removed from
};

class DeleteJob final : public JobHandler {
 public:
  DeleteJob(Catalog& catalog, DeleteJobOptions options)
      : catalog_(catalog), options_(std::move(options)) {}
  Status Run(JobContext& ctx) override;

 private:
  Catalog& catalog_;
  const DeleteJobOptions options_;
};

}  // namespace backup
