// A backup policy's retention applied to one collection: which of the backups the policy
// made (metadata kPolicyMetadataKey) its rules keep, and the removal of the rest through
// RemoveBackup, the same safe delete as DeleteBackup. Backups made otherwise (by hand, or
// by another policy) are never candidates.
// Thread-safety: stateless; call from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "control/catalog.h"
#include "control/job_queue.h"
#include "policy/retention.h"
#include "storage/store_set.h"
#include "worker/backup_removal.h"

namespace backup {

// The policy's rules (retention.h) from its record.
RetentionRules RulesOf(const PolicyRecord& policy);

struct RetentionOutcome {
  std::vector<RetentionVerdict> verdicts;  // newest first, as ApplyRetention gives them
  int removed = 0;                         // here, or handed to a DELETE job on the backup's node
  int64_t bytes_freed = 0;                 // here (a DELETE job on another node reports its own)
};

// Judges the COMPLETED backups `policy` made of `collection` and, unless `dry_run`, removes
// those no rule keeps. A backup a job took up meanwhile stays (logged, and kept in the
// verdicts). Nothing is judged when the policy has no rule.
// A backup on another node's disk is handed to a DELETE job there (counted as removed, its
// bytes freed there).
Result<RetentionOutcome> EnforceRetention(Catalog& catalog, JobQueue& jobs, const RemovalSite& site,
                                          const PolicyRecord& policy,
                                          const CollectionName& collection, bool dry_run);

}  // namespace backup
