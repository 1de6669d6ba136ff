#include "server/job_waiter.h"

#include <algorithm>

namespace backup {
namespace {

bool Changed(const Job& a, const Job& b) {
  return a.state != b.state || !(a.progress == b.progress) || a.attempt != b.attempt ||
         a.cancel_requested != b.cancel_requested;
}

}  // namespace

Result<Job> FollowJob(JobQueue& jobs, const std::string& job_id, const grpc::ServerContext& context,
                      const WaitOptions& options,
                      const std::function<bool(const Job&)>& on_change) {
  const auto deadline = context.deadline() - std::chrono::milliseconds(options.deadline_margin_ms);
  std::optional<Job> last;
  for (;;) {
    uint64_t seen = jobs.ChangeVersion();
    auto job = jobs.GetJob(job_id);
    if (!job) return Fail(job.error());
    if (!last || Changed(*last, *job)) {
      if (on_change && !on_change(*job)) return *job;
    }
    last = std::move(*job);
    if (IsTerminal(last->state) || context.IsCancelled()) return *last;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::system_clock::now())
                    .count();
    if (left <= 0) return *last;
    jobs.WaitForChange(seen, std::min<int64_t>(left, options.poll_ms));
  }
}

Result<Job> AwaitJob(JobQueue& jobs, const std::string& job_id, const grpc::ServerContext& context,
                     const WaitOptions& options) {
  auto job = FollowJob(jobs, job_id, context, options, nullptr);
  if (!job) return job;
  if ((job->state == JobState::kFailed || job->state == JobState::kCancelled) && job->error) {
    return Fail(job->error->Context(std::string(ToString(job->kind)) + " job " + job_id + " " +
                                    std::string(ToString(job->state))));
  }
  return job;
}

}  // namespace backup
