// The Prometheus exposition: what a scrape reads, checked by Debian's promtool.
#include "common/metrics.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "tests/test_util.h"

namespace backup::testing {
namespace {

// promtool's verdict on `text` ("" when it is clean), as `promtool check metrics` prints it.
std::string PromtoolSays(const std::string& text) {
  TempDir dir;
  const auto file = dir.path() / "metrics.txt";
  std::ofstream(file) << text;
  const std::string command = "promtool check metrics < '" + file.string() + "' 2>&1";
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return "cannot run promtool";
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
  const int status = ::pclose(p);
  return status == 0 && out.empty() ? "" : (out.empty() ? "exit " + std::to_string(status) : out);
}

TEST(MetricsTest, CountersGaugesAndHistogramsRenderAsPromtoolWants) {
  Metrics m;
  auto& jobs = m.Counter("collector_jobs_finished_total", "Jobs that ended, by kind and outcome.",
                         {"kind", "outcome"});
  auto& queued = m.Gauge("collector_queue_jobs", "Jobs waiting to run.", {});
  auto& seconds =
      m.Histogram("collector_job_duration_seconds", "How long jobs ran.", {"kind"}, {1, 10, 60});
  jobs.Add({"backup", "succeeded"}, 3);
  jobs.Add({"backup", "failed"});
  queued.Set({}, 7);
  seconds.Observe({"backup"}, 0.5);
  seconds.Observe({"backup"}, 30);
  seconds.Observe({"backup"}, 3600);
  const std::string text = m.Render();
  EXPECT_EQ(PromtoolSays(text), "") << text;
  EXPECT_NE(text.find("# TYPE collector_jobs_finished_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("collector_jobs_finished_total{kind=\"backup\",outcome=\"succeeded\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("collector_queue_jobs 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("collector_job_duration_seconds_bucket{kind=\"backup\",le=\"10\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("collector_job_duration_seconds_bucket{kind=\"backup\",le=\"60\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("collector_job_duration_seconds_bucket{kind=\"backup\",le=\"+Inf\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("collector_job_duration_seconds_sum{kind=\"backup\"} 3630.5\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("collector_job_duration_seconds_count{kind=\"backup\"} 3\n"),
            std::string::npos)
      << text;
}

TEST(MetricsTest, HostileLabelValuesAreEscapedNotInjected) {
  Metrics m;
  auto& last = m.Gauge("collector_last_successful_backup_timestamp_seconds",
                       "When each collection last had a good backup.", {"collection"});
  last.Set({"prod/a\"b\\c\nevil_metric 1"}, 1.8e9);
  const std::string text = m.Render();
  EXPECT_EQ(PromtoolSays(text), "") << text;
  EXPECT_NE(text.find("{collection=\"prod/a\\\"b\\\\c\\nevil_metric 1\"}"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("\nevil_metric"), std::string::npos) << text;
}

TEST(MetricsTest, AGaugeSeriesCanBeRemovedAndUpdatesFromManyThreadsAddUp) {
  Metrics m;
  auto& g = m.Gauge("collector_test_gauge", "A gauge.", {"x"});
  g.Set({"a"}, 1);
  g.Set({"b"}, 2);
  g.Remove({"a"});
  EXPECT_EQ(m.Render().find("x=\"a\""), std::string::npos);
  auto& c = m.Counter("collector_test_total", "A counter.", {});
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) c.Add({});
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_NE(m.Render().find("collector_test_total 40000\n"), std::string::npos) << m.Render();
}

}  // namespace
}  // namespace backup::testing
