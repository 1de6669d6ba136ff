// The two halves every job-submitting RPC (BackupCollection, RestoreBackup, VerifyBackup)
// shares: submitting at most once per idempotency key, and answering with the job, or
// with `wait` with the job's stored result once it ends (see SubmissionCall).
// Thread-safety: stateless; call from any RPC thread.
#pragma once

#include <functional>
#include <string>

#include <google/protobuf/message.h>

#include "common/wire.h"
#include "control/job_queue.h"

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

// Fills `response` with a submitted job: the job as it is, and, when the call waited and
// the job SUCCEEDED, first the full synchronous response stored as its result (taken by
// `result_of` from the wire Job). The caller keeps `response` alive while this is used.
template <typename Response>
std::function<void(const Job&, bool)> AnswerInto(Response& response,
                                                 const Response& (collector::Job::*result_of)()
                                                     const) {
  return [&response, result_of](const Job& job, bool waited) {
    collector::Job wire = ToProto(job);
    if (waited && job.state == JobState::kSucceeded) response = (wire.*result_of)();
    *response.mutable_job() = std::move(wire);
  };
}

}  // namespace backup
