// Helpers for backup-bench: timing, statistics, figures printed as JSON lines and as a
// table, and shell baselines. Single-threaded unless stated.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace backup::bench {

using Clock = std::chrono::steady_clock;

inline double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double Median(std::vector<double> v);
double Percentile(std::vector<double> v, double p);  // p in [0, 100]

// Runs `command` with /bin/sh; returns its wall time in seconds (aborts on failure).
double TimeShell(const std::string& command);

// One scenario's figures: printed at once as one JSON object, kept for the final table.
struct Figure {
  std::string name;
  double value;
  std::string unit;
};
void Report(const std::string& scenario, const std::vector<Figure>& figures);
// The median of `values` as `name`, and their range as `name`_min and `name`_max.
std::vector<Figure> Spread(const std::string& name, const std::vector<double>& values,
                           const std::string& unit);
void PrintTable();

// Writes `bytes` into a scratch file in `dir` and removes it, so that the next timed step
// finds free memory the hypervisor backs. On this VM, memory left free for a few seconds is
// handed back to the host (virtio_balloon free-page reporting), and the first write to it
// costs up to 2.5 s a GB in the kernel's copy (BENCHMARKS.md section 12): whichever step
// ran first on such memory, ours or the baseline, was the slow one.
void WarmMemory(const std::filesystem::path& dir, int64_t bytes);

// Bytes of a file or a whole tree.
int64_t DiskBytes(const std::filesystem::path& path);

}  // namespace backup::bench
