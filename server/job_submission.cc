#include "server/job_submission.h"

#include <memory>

#include "server/idempotency.h"

namespace backup {

Result<Submitted> SubmitOnce(JobQueue& jobs, const google::protobuf::Message& request,
                             const std::string& idempotency_key,
                             const std::function<Result<Job>(const std::string&)>& enqueue) {
  std::unique_ptr<google::protobuf::Message> canonical(request.New());
  canonical->CopyFrom(request);
  const auto* descriptor = canonical->GetDescriptor();
  for (const char* field : {"wait", "idempotency_key"}) {
    canonical->GetReflection()->ClearField(canonical.get(), descriptor->FindFieldByName(field));
  }
  const std::string hash = RequestHash(*canonical);
  auto repeat = FindRepeat(jobs, idempotency_key, hash);
  if (!repeat) return Fail(repeat.error());
  if (*repeat) return Submitted{std::move(**repeat), true};
  auto job = enqueue(hash);
  if (job) return Submitted{std::move(*job), false};
  if (!idempotency_key.empty()) {
    auto winner = FindRepeat(jobs, idempotency_key, hash);
    if (winner && *winner) return Submitted{std::move(**winner), true};
  }
  return Fail(job.error());
}

AnswerWhen AnswerWhenFor(bool has_wait, bool wait, bool absent_waits) {
  if (has_wait) return wait ? AnswerWhen::kEndedOrRunning : AnswerWhen::kAtOnce;
  return absent_waits ? AnswerWhen::kEndedOrDeadline : AnswerWhen::kAtOnce;
}

Error StillRunningAtDeadline(const Job& job) {
  return Error::DeadlineExceeded(
      std::string(ToString(job.kind)) + " job " + job.id + " is still " +
      std::string(ToString(job.state)) +
      " at the call's deadline; it goes on: follow it with GetJob or WatchJob (backupctl jobs "
      "watch " +
      job.id + "), or call again with a longer deadline");
}

}  // namespace backup
