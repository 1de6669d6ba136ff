#include "tests/bench/bench_util.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include "common/logging.h"

namespace backup::bench {
namespace {

std::vector<std::pair<std::string, std::vector<Figure>>>& Table() {
  static std::vector<std::pair<std::string, std::vector<Figure>>> table;
  return table;
}

}  // namespace

double Median(std::vector<double> v) { return Percentile(std::move(v), 50); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double rank = p / 100.0 * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(rank);
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

double TimeShell(const std::string& command) {
  auto t = Clock::now();
  if (std::system(command.c_str()) != 0) {
    std::fprintf(stderr, "backup-bench: baseline failed: %s\n", command.c_str());
    std::exit(1);
  }
  return SecondsSince(t);
}

void WarmMemory(const std::filesystem::path& dir, int64_t bytes) {
  const std::filesystem::path scratch = dir / "warm-memory.scratch";
  const int fd = ::open(scratch.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::fprintf(stderr, "backup-bench: cannot create %s\n", scratch.c_str());
    std::exit(1);
  }
  const std::string block(4 << 20, 'w');
  for (int64_t at = 0; at < bytes; at += std::ssize(block)) {
    if (::pwrite(fd, block.data(), block.size(), at) != std::ssize(block)) {
      std::fprintf(stderr, "backup-bench: cannot write %s\n", scratch.c_str());
      std::exit(1);
    }
  }
  ::close(fd);
  std::filesystem::remove(scratch);  // its pages freed now, so not yet handed back
}

std::vector<Figure> Spread(const std::string& name, const std::vector<double>& values,
                           const std::string& unit) {
  if (values.empty()) return {};
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  return {{name, Median(values), unit}, {name + "_min", *lo, unit}, {name + "_max", *hi, unit}};
}

void Report(const std::string& scenario, const std::vector<Figure>& figures) {
  std::string json = "{\"scenario\":\"" + JsonEscape(scenario) + "\"";
  for (const Figure& f : figures) {
    char value[64];
    std::snprintf(value, sizeof value, "%.6g", f.value);
    json += ",\"" + JsonEscape(f.name) + "\":" + value;
  }
  std::printf("%s}\n", json.c_str());
  std::fflush(stdout);
  Table().emplace_back(scenario, figures);
}

void PrintTable() {
  std::printf("\n%-34s %-34s %14s  %s\n", "scenario", "figure", "value", "unit");
  for (const auto& [scenario, figures] : Table()) {
    for (const Figure& f : figures) {
      std::printf("%-34s %-34s %14.4g  %s\n", scenario.c_str(), f.name.c_str(), f.value,
                  f.unit.c_str());
    }
  }
}

int64_t DiskBytes(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec))
    return static_cast<int64_t>(std::filesystem::file_size(path, ec));
  int64_t total = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::end(it); it.increment(ec)) {
    if (it->is_regular_file(ec)) total += static_cast<int64_t>(it->file_size(ec));
  }
  return total;
}

}  // namespace backup::bench
