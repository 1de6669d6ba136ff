// The change notification both control stores give their callers: a version number bumped
// after every committed job write this process makes or learns of, and a wait for it to
// move (see JobQueue::ChangeVersion, WaitForChange, NotifyChange).
//
// Thread-safety: every method is safe to call from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace backup {

class ChangeSignal {
 public:
  uint64_t Version() const {
    std::lock_guard lock(mu_);
    return version_;
  }
  void Bump() {
    {
      std::lock_guard lock(mu_);
      ++version_;
    }
    cv_.notify_all();
  }
  // Returns once the version differs from `seen` or `timeout_ms` passed.
  void Wait(uint64_t seen, int64_t timeout_ms) const {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return version_ != seen; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  uint64_t version_ = 0;  // guarded by mu_
};

}  // namespace backup
