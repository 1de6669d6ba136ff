#include "worker/process_metrics.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include "policy/schedule.h"

namespace backup {
namespace {

const std::vector<double> kDurationBounds = {0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14'400};
const std::vector<double> kByteBounds = {1e3, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

JobMetrics::JobMetrics(Metrics& registry)
    : started_(registry.Counter("backup_jobs_started_total", "Job attempts this process started.",
                                {"kind"})),
      finished_(registry.Counter("backup_jobs_finished_total",
                                 "Job attempts this process ended, by outcome.",
                                 {"kind", "outcome"})),
      duration_(registry.Histogram("backup_job_duration_seconds",
                                   "How long this process's job attempts ran.", {"kind"},
                                   kDurationBounds)),
      bytes_(registry.Histogram("backup_job_bytes",
                                "Bytes each succeeded job attempt of this process handled.",
                                {"kind"}, kByteBounds)),
      errors_(registry.Counter("backup_job_errors_total",
                               "Failed job attempts by error code (UNAVAILABLE: a store or "
                               "source could not be reached).",
                               {"kind", "code"})),
      lease_lost_(registry.Counter("backup_lease_expirations_total",
                                   "Jobs this process stopped because their lease expired.", {})),
      rescued_(registry.Counter("backup_jobs_rescued_total",
                                "Jobs with expired leases this process put back in the queue.",
                                {})) {}

void JobMetrics::Started(JobKind kind) { started_.Add({Lower(ToString(kind))}); }

void JobMetrics::Ended(JobKind kind, std::string_view outcome, double seconds, int64_t bytes) {
  const std::string k = Lower(ToString(kind));
  finished_.Add({k, std::string(outcome)});
  duration_.Observe({k}, seconds);
  if (outcome == "succeeded") bytes_.Observe({k}, static_cast<double>(bytes));
  if (outcome == "lease_lost") lease_lost_.Add({});
}

void JobMetrics::AttemptError(JobKind kind, Code code) {
  errors_.Add({Lower(ToString(kind)), std::string(CodeName(code))});
}

void JobMetrics::Rescued(int jobs) { rescued_.Add({}, jobs); }

ProcessMetrics::ProcessMetrics(JobQueue& jobs, Catalog& catalog, PolicyStore& policies)
    : jobs_db_(jobs),
      catalog_(catalog),
      policies_(policies),
      job_metrics_(registry_),
      queue_(registry_.Gauge("backup_queue_jobs", "Queued and running jobs (the whole queue).",
                             {"kind", "state"})),
      oldest_(registry_.Gauge("backup_queue_oldest_age_seconds",
                              "Age of the oldest queued job; 0 when none is queued.", {})),
      last_success_(registry_.Gauge(
          "backup_last_successful_backup_timestamp_seconds",
          "When the collection's newest completed backup completed; 0: it has none.",
          {"namespace", "collection"})),
      completed_(registry_.Gauge("backup_completed_backups", "Completed backups kept.",
                                 {"namespace", "collection"})),
      last_verify_at_(registry_.Gauge("backup_last_verify_timestamp_seconds",
                                      "When a backup of the collection was last verified.",
                                      {"namespace", "collection"})),
      last_verify_ok_(registry_.Gauge("backup_last_verify_success",
                                      "1 when the latest verify found its backup valid, else 0.",
                                      {"namespace", "collection"})),
      policy_last_(registry_.Gauge("backup_policy_last_slot_timestamp_seconds",
                                   "The last slot the policy ran; 0: none yet.", {"policy"})),
      policy_next_(registry_.Gauge("backup_policy_next_slot_timestamp_seconds",
                                   "The policy's next slot; 0 while paused.", {"policy"})),
      policy_paused_(
          registry_.Gauge("backup_policy_paused", "1 while the policy is paused.", {"policy"})),
      scrape_errors_(registry_.Counter("backup_scrape_errors_total",
                                       "Scrapes whose control-database figures could not be read.",
                                       {})) {}

Status ProcessMetrics::RefreshQueue() {
  auto stats = jobs_db_.Stats();
  if (!stats) return Fail(stats.error());
  for (JobKind kind : {JobKind::kBackup, JobKind::kRestore, JobKind::kVerify, JobKind::kDelete}) {
    for (JobState state : {JobState::kQueued, JobState::kRunning}) {
      auto it = stats->active.find({kind, state});
      queue_.Set({Lower(ToString(kind)), Lower(ToString(state))},
                 it == stats->active.end() ? 0 : static_cast<double>(it->second));
    }
  }
  const int64_t now_ms = jobs_db_.clock().NowMs();
  oldest_.Set({}, stats->oldest_queued_ms == 0
                      ? 0
                      : static_cast<double>(now_ms - stats->oldest_queued_ms) / 1000.0);
  return {};
}

Status ProcessMetrics::RefreshCollections() {
  auto stats = catalog_.BackupStats();
  if (!stats) return Fail(stats.error());
  for (const CollectionBackupStats& s : *stats) {
    const Metrics::Labels labels{s.collection.ns, s.collection.name};
    last_success_.Set(labels, static_cast<double>(s.last_completed_at));
    completed_.Set(labels, static_cast<double>(s.completed));
    if (s.last_verified_at > 0) {
      last_verify_at_.Set(labels, static_cast<double>(s.last_verified_at));
      last_verify_ok_.Set(labels, s.last_verify_valid ? 1 : 0);
    }
  }
  return {};
}

Status ProcessMetrics::RefreshPolicies() {
  auto policies = policies_.ListPolicies({});
  if (!policies) return Fail(policies.error());
  const auto now =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  for (const PolicyRecord& p : *policies) {
    policy_last_.Set({p.name}, static_cast<double>(p.last_slot));
    policy_paused_.Set({p.name}, p.paused ? 1 : 0);
    auto schedule = Schedule::Parse(p.schedule);
    policy_next_.Set(
        {p.name}, !schedule || p.paused
                      ? 0
                      : static_cast<double>(schedule->NextAfter(now).time_since_epoch().count()));
  }
  return {};
}

std::string ProcessMetrics::Render() {
  for (auto refresh : {&ProcessMetrics::RefreshQueue, &ProcessMetrics::RefreshCollections,
                       &ProcessMetrics::RefreshPolicies}) {
    if (auto refreshed = (this->*refresh)(); !refreshed) {
      scrape_errors_.Add({});
      spdlog::warn("metrics: {}", refreshed.error().message());
    }
  }
  return registry_.Render();
}

}  // namespace backup
