#include "worker/policy_retention.h"

#include <set>
#include <string>

#include <spdlog/spdlog.h>

#include "common/policy_keys.h"
#include "policy/schedule.h"
#include "worker/backup_removal.h"

namespace backup {
namespace {

// The backups queued and running jobs use (a backup's own job, restores and verifies).
// At most the first 1000 of each state: RemoveBackup refuses the rest itself.
Result<std::set<std::string>> BackupsInUse(JobQueue& jobs) {
  std::set<std::string> in_use;
  for (JobState state : {JobState::kQueued, JobState::kRunning}) {
    JobQuery query;
    query.state = state;
    query.page_size = 1000;
    auto page = jobs.ListJobs(query);
    if (!page) return Fail(page.error());
    for (const Job& job : page->jobs) {
      if (!job.backup_id.empty()) in_use.insert(job.backup_id);
    }
  }
  return in_use;
}

Result<std::vector<RetentionCandidate>> Candidates(Catalog& catalog, JobQueue& jobs,
                                                   const PolicyRecord& policy,
                                                   const CollectionName& collection) {
  BackupQuery query;
  query.collection = collection;
  auto list = catalog.ListBackups(query);
  if (!list) return Fail(list.error());
  auto in_use = BackupsInUse(jobs);
  if (!in_use) return Fail(in_use.error());
  std::vector<RetentionCandidate> candidates;
  for (const BackupRecord& b : list->backups) {
    auto made_by = b.metadata.find(std::string(kPolicyMetadataKey));
    if (b.state != BackupState::kCompleted || made_by == b.metadata.end() ||
        made_by->second != policy.name) {
      continue;
    }
    candidates.push_back({.id = b.id,
                          .taken = std::chrono::sys_seconds(std::chrono::seconds(b.timestamp)),
                          .verified = b.last_verified_at > 0 && b.last_verify_valid,
                          .in_use = in_use->contains(b.id)});
  }
  return candidates;
}

}  // namespace

RetentionRules RulesOf(const PolicyRecord& policy) {
  return {.last = policy.keep_last,
          .daily = policy.keep_daily,
          .weekly = policy.keep_weekly,
          .monthly = policy.keep_monthly,
          .within = std::chrono::seconds(policy.keep_within_s)};
}

Result<RetentionOutcome> EnforceRetention(Catalog& catalog, JobQueue& jobs, const RemovalSite& site,
                                          const PolicyRecord& policy,
                                          const CollectionName& collection, bool dry_run) {
  RetentionOutcome outcome;
  const RetentionRules rules = RulesOf(policy);
  if (rules.empty()) return outcome;
  auto schedule = Schedule::Parse(policy.schedule);
  if (!schedule) return Fail(schedule.error().Context("policy " + policy.name));
  auto candidates = Candidates(catalog, jobs, policy, collection);
  if (!candidates) return Fail(candidates.error().Context("retention of " + collection.Key()));
  outcome.verdicts = ApplyRetention(std::move(*candidates), rules, schedule->zone());
  if (dry_run) return outcome;
  for (RetentionVerdict& verdict : outcome.verdicts) {
    if (verdict.keep) continue;
    auto freed = RemoveHereOrOnItsNode(catalog, site, verdict.id, "policy:" + policy.name,
                                       jobs.clock().NowMs());
    if (!freed && (freed.error().code() == Code::kFailedPrecondition ||
                   freed.error().code() == Code::kNotFound)) {
      // A job took it up meanwhile (kept for now), or another process removed it first.
      spdlog::info("policy={} collection={} backup={} not removed: {}", policy.name,
                   collection.Key(), verdict.id, freed.error().message());
      if (freed.error().code() == Code::kFailedPrecondition) {
        verdict.keep = true;
        verdict.reasons.emplace_back("in use");
      }
      continue;
    }
    if (!freed) return Fail(freed.error().Context("retention of " + collection.Key()));
    ++outcome.removed;
    outcome.bytes_freed += freed->bytes_freed;
    if (freed->delete_job.empty()) {
      spdlog::info("policy={} collection={} backup={} removed by retention, {} bytes freed",
                   policy.name, collection.Key(), verdict.id, freed->bytes_freed);
    } else {
      spdlog::info(
          "policy={} collection={} backup={} removed by retention through job={} on "
          "its node",
          policy.name, collection.Key(), verdict.id, freed->delete_job);
    }
  }
  return outcome;
}

}  // namespace backup
