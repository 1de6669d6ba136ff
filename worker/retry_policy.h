// What happens after a failed attempt: which errors are worth retrying, and how long to
// wait before the next attempt. Pure functions; thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common/error.h"

namespace backup {

// Transient: kUnavailable (SQLITE_BUSY/LOCKED past the busy timeout, EIO, EAGAIN, a lost
// connection). Everything else (kNotFound, kInvalidArgument, kDataLoss for a corrupt source,
// kResourceExhausted for a full disk, ...) fails the job at once.
inline bool IsTransient(const Error& error) { return error.code() == Code::kUnavailable; }

// Exponential backoff with jitter: base * 2^(attempt-1), capped at max_ms, then a value in
// its upper half chosen by `random` (so jobs that failed together spread out).
inline int64_t RetryDelayMs(int attempt, int64_t base_ms, int64_t max_ms, uint64_t random) {
  int64_t delay = base_ms << std::clamp(attempt - 1, 0, 20);
  delay = std::min(delay, max_ms);
  return delay / 2 + static_cast<int64_t>(random % static_cast<uint64_t>(delay / 2 + 1));
}

}  // namespace backup
