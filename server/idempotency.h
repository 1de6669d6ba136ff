// Idempotency keys: a client that retries a submission with the same key gets the
// original job back instead of a second one. Stateless; thread-safe.
#pragma once

#include <optional>
#include <string>

#include <google/protobuf/message.h>

#include "control/job_queue.h"

namespace backup {

// SHA-256 of the deterministic serialization of `request` (callers clear the fields that
// do not change what is asked, such as `wait` and the key itself).
std::string RequestHash(const google::protobuf::Message& request);

// The job earlier submitted with `key`, when its request hash equals `hash`; nothing for
// an unused key; kFailedPrecondition when the key was used for a different request.
Result<std::optional<Job>> FindRepeat(JobQueue& jobs, const std::string& key,
                                      const std::string& hash);

}  // namespace backup
