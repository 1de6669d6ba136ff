// What backupd tells Prometheus: /metrics on --http-listen after real jobs (checked line by
// line and by promtool), and a real Prometheus server (Debian's) that scrapes it and answers
// a query with the figure backupd served.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <thread>

#include "tests/loopback.h"
#include "tests/process.h"
#include "tests/server_fixture.h"

namespace backup::testing {
namespace {

class ObservabilityTest : public ServerTest {
 protected:
  void SetUp() override {
    options_.host.http_listen = "127.0.0.1:0";
    StartServer(2);
  }

  std::string Scrape() {
    const int port = server_->host().http_port();
    auto [body, status] = Shell("curl -sf http://127.0.0.1:" + std::to_string(port) + "/metrics");
    EXPECT_EQ(status, 0) << body;
    return body;
  }

  static bool Has(const std::string& text, const std::string& line) {
    return text.find(line) != std::string::npos;
  }
};

TEST_F(ObservabilityTest, MetricsCountJobsAndShowEachCollectionsNewestBackup) {
  CreateCollection("obs", "a", 100);
  CreateCollection("obs", "never", 10);
  Watch(Backup("obs", "a").job().job_id());
  const std::string metrics = Scrape();
  EXPECT_TRUE(Has(metrics, "backup_jobs_started_total{kind=\"backup\"} 1\n")) << metrics;
  EXPECT_TRUE(Has(metrics, "backup_jobs_finished_total{kind=\"backup\",outcome=\"succeeded\"} 1\n"))
      << metrics;
  EXPECT_TRUE(Has(metrics, "backup_job_duration_seconds_count{kind=\"backup\"} 1\n")) << metrics;
  EXPECT_TRUE(Has(metrics, "backup_completed_backups{namespace=\"obs\",collection=\"a\"} 1\n"))
      << metrics;
  EXPECT_TRUE(Has(metrics,
                  "backup_last_successful_backup_timestamp_seconds{namespace=\"obs\","
                  "collection=\"never\"} 0\n"))
      << metrics;
  EXPECT_FALSE(Has(metrics,
                   "backup_last_successful_backup_timestamp_seconds{namespace=\"obs\","
                   "collection=\"a\"} 0\n"))
      << metrics;
  EXPECT_TRUE(Has(metrics, "backup_queue_jobs{kind=\"backup\",state=\"queued\"} 0\n")) << metrics;
  EXPECT_TRUE(Has(metrics, "backup_queue_oldest_age_seconds 0\n")) << metrics;
  const int port = server_->host().http_port();
  auto [lint, status] = Shell("curl -sf http://127.0.0.1:" + std::to_string(port) +
                              "/metrics | promtool check metrics");
  EXPECT_EQ(status, 0) << lint;
  EXPECT_EQ(lint, "");
}

TEST_F(ObservabilityTest, ANonLoopbackHttpAddressIsRefusedAtStart) {
  BackupServerOptions options = options_;
  options.host.data_dir = dir_.path() / "other";
  options.host.http_listen = "0.0.0.0:0";
  auto server = BackupServer::Start(options);
  ASSERT_FALSE(server);
  EXPECT_NE(server.error().message().find("loopback only"), std::string::npos)
      << server.error().message();
}

TEST_F(ObservabilityTest, ARealPrometheusScrapesBackupdAndAnswersAQuery) {
  CreateCollection("obs", "a", 50);
  Watch(Backup("obs", "a").job().job_id());
  Watch(Backup("obs", "a").job().job_id());
  const int prometheus_port = FreeLoopbackPort();
  const auto config = dir_.path() / "prometheus.yml";
  {
    std::ofstream out(config);
    out << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        << "rule_files:\n  - " << BACKUP_SOURCE_DIR << "/deploy/prometheus/backup-alerts.yml\n"
        << "scrape_configs:\n  - job_name: backupd\n    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << server_->host().http_port() << "']\n";
  }
  Process prometheus({"/usr/bin/prometheus", "--config.file=" + config.string(),
                      "--storage.tsdb.path=" + (dir_.path() / "tsdb").string(),
                      "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port)},
                     dir_.path() / "prometheus.log");
  const std::string query = "http://127.0.0.1:" + std::to_string(prometheus_port) +
                            "/api/v1/query?query=backup_completed_backups";
  std::string answer;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    answer = Shell("curl -s '" + query + "'").first;
    if (Has(answer, "\"collection\":\"a\"")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_TRUE(Has(answer, "\"namespace\":\"obs\"")) << answer << "\n"
                                                    << ReadFile(dir_.path() / "prometheus.log");
  EXPECT_TRUE(Has(answer, ",\"2\"]")) << answer;  // the value: two completed backups
  prometheus.Signal(SIGTERM);
  EXPECT_EQ(prometheus.Wait(), 0) << ReadFile(dir_.path() / "prometheus.log");
}

}  // namespace
}  // namespace backup::testing
