// Runs a BACKUP job: snapshot the collection database with VACUUM INTO into a temporary
// name beside the destination, hash and fsync it, rename it into place, fsync the folder;
// copy the files folder the same way; then mark the backup COMPLETED and the job
// SUCCEEDED in one transaction. On any failure or cancellation every partial file is
// removed (a scope guard, committed only at the end).
//
// Thread-safety: Run() may be called from several threads at once for different jobs.
#pragma once

#include <filesystem>
#include <vector>

#include "common/control_store.h"
#include "worker/job_handler.h"

namespace backup {

struct BackupJobOptions {
  // Where backups may be written; the destination is checked again at run time, so a
  // symlink swapped in after submission cannot redirect the write.
  std::vector<std::filesystem::path> backup_roots;
  // PASSIVE WAL checkpoints of the source around the snapshot (see snapshot.h).
  bool checkpoint_source = true;
};

class BackupJob final : public JobHandler {
 public:
  BackupJob(ControlStore& store, BackupJobOptions options)
      : store_(store), options_(std::move(options)) {}
  Status Run(JobContext& ctx) override;

 private:
  ControlStore& store_;
  const BackupJobOptions options_;
};

// The temporary names attempt `attempt` of a backup writes before its final renames.
// Each attempt has its own, so a stale attempt (a worker that lost its lease and has not
// noticed yet) can never remove or replace what the current attempt writes.
std::filesystem::path PartialPath(const std::filesystem::path& final_path, int attempt);
std::filesystem::path FilesPartialDir(const std::filesystem::path& final_path, int attempt);
// The name prefix of every attempt's temporary names ("<file>.partial-", "<file>.files.partial-").
std::string PartialPrefix(const std::filesystem::path& final_path);
std::string FilesPartialPrefix(const std::filesystem::path& final_path);
// Where a backup's files are kept: "<backup file>.files".
std::filesystem::path FilesDir(const std::filesystem::path& final_path);
// Removes every attempt's temporary names of the backup at `final_path`.
Status RemovePartials(const std::filesystem::path& final_path);

}  // namespace backup
