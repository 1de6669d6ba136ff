// Assembly shared by backupd's embedded pool and the backup-worker process.
#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include "common/control_store.h"
#include "common/data_layout.h"
#include "worker/worker_pool.h"

namespace backup {

// The worker pool with a handler for every job kind.
std::unique_ptr<WorkerPool> MakeWorkerPool(ControlStore& store, const WorkerPoolOptions& options,
                                           const DataLayout& layout,
                                           const std::vector<std::filesystem::path>& backup_roots);

// The backup roots for a data directory: <data>/backups (created) and `extra` (which must
// exist), each made absolute. The first is the default.
Result<std::vector<std::filesystem::path>> BackupRoots(const DataLayout& layout,
                                                       const std::vector<std::filesystem::path>& extra);

}  // namespace backup
