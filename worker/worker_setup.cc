#include "worker/worker_setup.h"

#include <system_error>

#include "common/fs.h"
#include "worker/backup_job.h"
#include "worker/restore_job.h"
#include "worker/verify_job.h"

namespace backup {
namespace fs = std::filesystem;

Result<std::vector<fs::path>> BackupRoots(const DataLayout& layout, const std::vector<fs::path>& extra) {
  BACKUP_TRY(CreateDirs(layout.BackupsRoot()), "backup root");
  std::vector<fs::path> roots{fs::weakly_canonical(layout.BackupsRoot())};
  for (const fs::path& root : extra) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
      return Fail(Error::InvalidArgument("backup root " + root.string() + " is not a directory"));
    }
    roots.push_back(fs::weakly_canonical(fs::absolute(root)));
  }
  return roots;
}

std::unique_ptr<WorkerPool> MakeWorkerPool(ControlStore& store, const WorkerPoolOptions& options,
                                           const DataLayout& layout,
                                           const std::vector<fs::path>& backup_roots) {
  auto pool = std::make_unique<WorkerPool>(store, options);
  pool->SetHandler(JobKind::kBackup,
                   std::make_unique<BackupJob>(store, BackupJobOptions{.backup_roots = backup_roots}));
  pool->SetHandler(JobKind::kRestore, std::make_unique<RestoreJob>(store, layout));
  pool->SetHandler(JobKind::kVerify, std::make_unique<VerifyJob>(store));
  return pool;
}

}  // namespace backup
