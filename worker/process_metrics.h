// What a process that runs jobs tells Prometheus (GET /metrics on --http-listen). Two kinds:
//   counted here, by this process: jobs started and finished (by kind and outcome), their
//     durations and bytes, attempt errors by code, leases this worker lost, expired leases
//     it rescued;
//   read from the control database at each scrape, the same in every process: the queue
//     (depth by kind and state, the oldest queued job's age), every collection's newest
//     completed backup and latest verify verdict, every policy's last and next slot.
// Names follow the Prometheus conventions: a "backup_" prefix, base units, "_total" on
// counters, "_timestamp_seconds" on instants.
//
// Thread-safety: every method is safe from any thread.
#pragma once

#include <string>

#include "common/metrics.h"
#include "common/records.h"
#include "control/catalog.h"
#include "control/job_queue.h"
#include "control/policy_store.h"

namespace backup {

// The counters the worker pool moves.
class JobMetrics {
 public:
  explicit JobMetrics(Metrics& registry);

  void Started(JobKind kind);
  // `outcome`: succeeded, failed, cancelled, retried, lease_lost or released.
  void Ended(JobKind kind, std::string_view outcome, double seconds, int64_t bytes);
  void AttemptError(JobKind kind, Code code);
  void Rescued(int jobs);

 private:
  Metrics::Family& started_;
  Metrics::Family& finished_;
  Metrics::Family& duration_;
  Metrics::Family& bytes_;
  Metrics::Family& errors_;
  Metrics::Family& lease_lost_;
  Metrics::Family& rescued_;
};

class ProcessMetrics {
 public:
  ProcessMetrics(JobQueue& jobs, Catalog& catalog, PolicyStore& policies);

  JobMetrics& jobs() { return job_metrics_; }
  // Reads the control database's figures, then renders everything. A failed read is
  // counted (backup_scrape_errors_total) and logged; the rest is still rendered.
  std::string Render();

 private:
  Status RefreshQueue();
  Status RefreshCollections();
  Status RefreshPolicies();

  JobQueue& jobs_db_;
  Catalog& catalog_;
  PolicyStore& policies_;
  Metrics registry_;
  JobMetrics job_metrics_;
  Metrics::Family& queue_;
  Metrics::Family& oldest_;
  Metrics::Family& last_success_;
  Metrics::Family& completed_;
  Metrics::Family& last_verify_at_;
  Metrics::Family& last_verify_ok_;
  Metrics::Family& policy_last_;
  Metrics::Family& policy_next_;
  Metrics::Family& policy_paused_;
  Metrics::Family& scrape_errors_;
};

}  // namespace backup
