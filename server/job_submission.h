// The two halves every job-submitting RPC (BackupCollection, RestoreBackup, VerifyBackup)
// shares: submitting at most once per idempotency key, and answering with the job, or
// with `wait` with the job's stored result once it ends.
// Thread-safety: stateless; call from any RPC thread.
#pragma once

#include <functional>
#include <string>

#include <google/protobuf/message.h>
#include <grpcpp/server_context.h>

#include "common/wire.h"
#include "control/job_queue.h"
#include "server/job_waiter.h"

namespace backup {

struct Submitted {
  Job job;
  bool repeated = false;  // the key was used before for this request: `job` is that one
};

// Submits a job at most once per idempotency key. The request's identity is its
// deterministic serialization without `wait` and `idempotency_key`. A key seen before
// with the same request returns the original job; with a different one,
// kFailedPrecondition. Otherwise calls `enqueue(request_hash)`, which writes the job; when
// that fails because a concurrent submission with the same key won, returns the winner.
Result<Submitted> SubmitOnce(JobQueue& jobs, const google::protobuf::Message& request,
                             const std::string& idempotency_key,
                             const std::function<Result<Job>(const std::string&)>& enqueue);

// When a job-submitting call answers, from its request's optional `wait`.
enum class AnswerWhen {
  kAtOnce,           // wait = false: with the job as submitted
  kEndedOrRunning,   // wait = true: when the job ended, or still running at the deadline
  kEndedOrDeadline,  // wait absent (the Collector API's synchronous meaning): when the
                     // job ended, or DEADLINE_EXCEEDED naming the job at the deadline
};
// `absent_waits`: what a request without `wait` means (backupd --wait-by-default).
AnswerWhen AnswerWhenFor(bool has_wait, bool wait, bool absent_waits);

// The error for a synchronous call whose deadline came before its job ended: the job goes
// on, and the message says how to follow it.
Error StillRunningAtDeadline(const Job& job);

// Fills `response` for a submitted job: `job` at once, or the job once it ended and, when
// it SUCCEEDED, the full synchronous response stored as its result (taken by `result_of`
// from the wire Job). A job that FAILED or was CANCELLED while waited for fails the call
// with its own error.
template <typename Response>
Status AnswerWithJob(JobQueue& jobs, const Job& job, AnswerWhen when, grpc::ServerContext& context,
                     const WaitOptions& options, Response& response,
                     const Response& (collector::Job::*result_of)() const) {
  Job current = job;
  if (when != AnswerWhen::kAtOnce) {
    auto ended = AwaitJob(jobs, job.id, context, options);
    if (!ended) return Fail(ended.error());
    current = std::move(*ended);
    if (when == AnswerWhen::kEndedOrDeadline && !IsTerminal(current.state)) {
      return Fail(StillRunningAtDeadline(current));
    }
  }
  collector::Job wire = ToProto(current);
  if (current.state == JobState::kSucceeded && when != AnswerWhen::kAtOnce) {
    response = (wire.*result_of)();
  }
  *response.mutable_job() = std::move(wire);
  return {};
}

}  // namespace backup
