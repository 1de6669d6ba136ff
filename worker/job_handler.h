// The contract between the worker pool and the code that runs one kind of job.
#pragma once

#include <string>

#include "common/error.h"
#include "worker/job_context.h"

namespace backup {

class JobHandler {
 public:
  virtual ~JobHandler() = default;
  // Runs the job. On success the handler has already recorded the job's result (in the
  // same transaction as its effects) and returns {}. On failure it leaves nothing behind
  // and returns the error; the pool decides what happens next: kCancelled ends the job
  // CANCELLED (or requeues it at shutdown), kUnavailable is retried with backoff, kAborted
  // means the lease was lost (nothing to record), anything else fails the job.
  virtual Status Run(JobContext& ctx) = 0;
};

// The job's request, decoded from the parameters stored with it.
template <typename Request>
Result<Request> ParseParams(const Job& job) {
  Request request;
  if (!request.ParseFromString(job.params)) {
    return Fail(Error::Internal("job " + job.id + ": parameters are not a " +
                                std::string(Request::descriptor()->name())));
  }
  return request;
}

}  // namespace backup
