// Runs a VERIFY job: checks a backup against what was recorded when it was made and
// names every problem found (missing or truncated database, SHA-256 mismatch, failed
// integrity_check, missing / extra / resized / changed files). The job SUCCEEDS whether
// or not the backup is valid; the verdict is in its result and on the backup's row.
// Thread-safety: Run() may be called from several threads at once for different jobs.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/clock.h"
#include "control/catalog.h"
#include "storage/store_set.h"
#include "worker/job_handler.h"

namespace backup {

// The problems found in `backup` (empty: valid). Progress is bytes hashed.
Result<std::vector<std::string>> CheckBackup(const BackupRecord& backup,
                                             const std::vector<ManifestEntry>& manifest,
                                             JobContext& ctx);

struct VerifyJobOptions {
  std::filesystem::path data_root;   // an archive's snapshot is staged in <data_root>/staging
  const StoreSet* stores = nullptr;  // where archive-format backups are read from
};

// An archive-format backup's problems. Quick: only what the store reports (the archive
// exists with the recorded size and checksum). Full: every byte downloaded, authenticated,
// unpacked and checked against the catalogue, and the snapshot's integrity_check.
Result<std::vector<std::string>> CheckArchiveBackup(const BackupRecord& backup,
                                                    const std::vector<ManifestEntry>& manifest,
                                                    const VerifyJobOptions& options, bool quick,
                                                    JobContext& ctx);

class VerifyJob final : public JobHandler {
 public:
  VerifyJob(Catalog& catalog, const Clock& clock, VerifyJobOptions options)
      : catalog_(catalog), clock_(clock), options_(std::move(options)) {}
  Status Run(JobContext& ctx) override;

 private:
  Catalog& catalog_;
  const Clock& clock_;
  const VerifyJobOptions options_;
};

}  // namespace backup
