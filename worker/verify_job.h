// Runs a VERIFY job: checks a backup against what was recorded when it was made and
// names every problem found (missing or truncated database, SHA-256 mismatch, failed
// integrity_check, missing / extra / resized / changed files). The job SUCCEEDS whether
// or not the backup is valid; the verdict is in its result and on the backup's row.
// Thread-safety: Run() may be called from several threads at once for different jobs.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "control/catalog.h"
#include "worker/job_handler.h"

namespace backup {

// The problems found in `backup` (empty: valid). Progress is bytes hashed.
Result<std::vector<std::string>> CheckBackup(const BackupRecord& backup,
                                             const std::vector<ManifestEntry>& manifest,
                                             JobContext& ctx);

class VerifyJob final : public JobHandler {
 public:
  VerifyJob(Catalog& catalog, const Clock& clock) : catalog_(catalog), clock_(clock) {}
  Status Run(JobContext& ctx) override;

 private:
  Catalog& catalog_;
  const Clock& clock_;
};

}  // namespace backup
