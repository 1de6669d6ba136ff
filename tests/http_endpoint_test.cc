// The HTTP side: /metrics over real loopback HTTP, read by curl and checked by promtool.
#include "common/http_endpoint.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "common/metrics.h"
#include "tests/test_util.h"

namespace backup::testing {
namespace {

std::pair<std::string, int> Curl(const std::string& args, const std::string& url) {
  return Shell("curl -s " + args + " '" + url + "'");
}

TEST(HttpEndpointTest, ServesMetricsAsTheyAreAtEachScrapeAndNothingElse) {
  Metrics metrics;
  auto& jobs = metrics.Counter("collector_jobs_finished_total", "Jobs that ended.", {"kind"});
  auto endpoint = HttpEndpoint::Start("127.0.0.1", 0, [&] { return metrics.Render(); });
  ASSERT_TRUE(endpoint) << endpoint.error().message();
  const std::string base = "http://127.0.0.1:" + std::to_string((*endpoint)->port());

  jobs.Add({"backup"});
  auto [first, status] = Curl("-f", base + "/metrics");
  EXPECT_EQ(status, 0) << first;
  EXPECT_NE(first.find("collector_jobs_finished_total{kind=\"backup\"} 1\n"), std::string::npos)
      << first;
  jobs.Add({"backup"});
  EXPECT_NE(Curl("-f", base + "/metrics").first.find("{kind=\"backup\"} 2\n"), std::string::npos);
  // The exposition as Prometheus reads it, through promtool.
  const auto [lint, lint_status] =
      Shell("curl -sf '" + base + "/metrics' | promtool check metrics");
  EXPECT_EQ(lint_status, 0) << lint;
  EXPECT_EQ(lint, "");
  EXPECT_NE(Curl("-f -o /dev/null -w '%{content_type}'", base + "/metrics")
                .first.find("text/plain; version=0.0.4"),
            std::string::npos);

  EXPECT_EQ(Curl("-o /dev/null -w '%{http_code}'", base + "/").first, "404");
  EXPECT_EQ(Curl("-o /dev/null -w '%{http_code}'", base + "/../../etc/passwd").first, "404");
  const std::string post = Curl("-d '' -o /dev/null -w '%{http_code}'", base + "/metrics").first;
  EXPECT_TRUE(post == "400" || post == "404" || post == "405") << post;
}

TEST(HttpEndpointTest, AnAddressInUseFailsAtStartNamingIt) {
  auto first = HttpEndpoint::Start("127.0.0.1", 0, [] { return std::string(); });
  ASSERT_TRUE(first);
  auto second = HttpEndpoint::Start("127.0.0.1", (*first)->port(), [] { return std::string(); });
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message().find("127.0.0.1:" + std::to_string((*first)->port())),
            std::string::npos)
      << second.error().message();
}

}  // namespace
}  // namespace backup::testing
