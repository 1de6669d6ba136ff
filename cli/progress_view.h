// Shows a job's progress as it changes: a live bar on a terminal (phase, bytes done of
// total, rate, items), plain lines otherwise (every state change, progress at most once
// a second). One view per watched job; not thread-safe.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "backup.pb.h"

namespace backup::cli {

class ProgressView {
 public:
  explicit ProgressView(std::FILE* out);
  void Update(const collector::Job& job);
  // Ends the bar's line.
  void Finish();

 private:
  std::FILE* out_;
  bool tty_;
  bool drawn_ = false;
  collector::JobState last_state_ = collector::JOB_STATE_UNSPECIFIED;
  std::string last_phase_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_line_{};
};

// "12.3 MiB"
std::string HumanBytes(int64_t bytes);

}  // namespace backup::cli
