#include "cli/progress_view.h"

#include <unistd.h>

#include <algorithm>

namespace backup::cli {

std::string HumanBytes(int64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, unit == 0 ? "%.0f %s" : "%.1f %s", v, kUnits[unit]);
  return buf;
}

ProgressView::ProgressView(std::FILE* out) : out_(out), tty_(::isatty(::fileno(out)) == 1) {}

void ProgressView::Update(const collector::Job& job) {
  const auto& p = job.progress();
  const auto now = std::chrono::steady_clock::now();
  double secs = std::chrono::duration<double>(now - start_).count();
  double rate = secs > 0 ? static_cast<double>(p.bytes_done()) / secs : 0;
  double frac =
      p.bytes_total() > 0
          ? std::clamp(static_cast<double>(p.bytes_done()) / static_cast<double>(p.bytes_total()),
                       0.0, 1.0)
          : 0.0;
  std::string state = collector::JobState_Name(job.state());
  char line[256];
  std::snprintf(line, sizeof line, "%-9s %-9s %3.0f%%  %s / %s  %s/s  items %lld/%lld",
                state.c_str(), p.phase().c_str(), frac * 100, HumanBytes(p.bytes_done()).c_str(),
                HumanBytes(p.bytes_total()).c_str(), HumanBytes(static_cast<int64_t>(rate)).c_str(),
                static_cast<long long>(p.items_done()), static_cast<long long>(p.items_total()));
  if (tty_) {
    constexpr int kWidth = 24;
    int filled = static_cast<int>(frac * kWidth);
    // Filled in place: GCC 12 at -O3 reports a false -Wrestrict on a chain of operator+.
    std::string bar(kWidth + 2, '-');
    bar.front() = '[';
    bar.back() = ']';
    std::fill_n(bar.begin() + 1, std::clamp(filled, 0, kWidth), '#');
    std::fprintf(out_, "\r\033[K%s %s", bar.c_str(), line);
    std::fflush(out_);
    drawn_ = true;
    return;
  }
  bool changed = job.state() != last_state_ || p.phase() != last_phase_;
  if (changed || now - last_line_ >= std::chrono::seconds(1)) {
    std::fprintf(out_, "%s %s\n", job.job_id().c_str(), line);
    std::fflush(out_);
    last_line_ = now;
  }
  last_state_ = job.state();
  last_phase_ = p.phase();
}

void ProgressView::Finish() {
  if (tty_ && drawn_) std::fprintf(out_, "\n");
  drawn_ = false;
}

}  // namespace backup::cli
