// The dashboard in a real headless Chromium (Debian's): the page polls /api/state, draws a
// running backup's bar at its progress while the job is held at a known point, and shows the
// job SUCCEEDED once it ends. Also: the JSON needs a token when backupd has an auth file.
#include <gtest/gtest.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <regex>

#include "common/sha256.h"
#include "common/test_point.h"
#include "tests/server_fixture.h"

namespace backup::testing {
namespace {

class DashboardTest : public ServerTest {
 protected:
  void SetUp() override {
    options_.host.http_listen = "127.0.0.1:0";
    StartServer(2);
    base_ = "http://127.0.0.1:" + std::to_string(server_->http_port());
  }
  void TearDown() override {
    SetTestPointHook({});
    ServerTest::TearDown();
  }

  // The page's DOM after Chromium ran its script for a few (virtual) seconds.
  std::string Dom() {
    auto [dom, status] = Shell("chromium --headless --no-sandbox --disable-gpu --user-data-dir=" +
                               (dir_.path() / "chromium").string() +
                               " --virtual-time-budget=4000 --dump-dom " + base_ + "/ 2>/dev/null");
    EXPECT_EQ(status, 0) << dom;
    return dom;
  }

  std::string base_;
};

TEST_F(DashboardTest, AHeadlessChromiumSeesTheBarAtItsProgressAndTheJobSucceed) {
  CreateCollection("web", "photos", 2'000);
  WriteFiles(layout().CollectionFilesDir({"web", "photos"}), 4, 4 << 20);
  std::mutex mu;
  std::condition_variable cv;
  bool reached = false, released = false;
  SetTestPointHook([&](std::string_view point) {
    if (point != "backup: files listed, copy starts") return;
    std::unique_lock lock(mu);
    reached = true;
    cv.notify_all();
    cv.wait_for(lock, std::chrono::seconds(60), [&] { return released; });
  });
  // The plain format: its snapshot counts as done before the files are copied.
  const std::string dest = (layout().BackupsRoot() / "dashboard.db").string();
  const std::string job = Backup("web", "photos", /*files=*/true, dest).job().job_id();
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return reached; }));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a heartbeat records progress

  const std::string running = Dom();
  std::smatch bar;
  const std::regex running_row("data-job=\"" + job +
                               "\" data-state=\"RUNNING\">.*?data-percent=\"([0-9.]+)\"");
  ASSERT_TRUE(std::regex_search(running, bar, running_row)) << running;
  const double percent = std::stod(bar[1]);
  EXPECT_GT(percent, 0);
  EXPECT_LT(percent, 50) << "the files (16 MiB) are not copied yet";
  EXPECT_NE(running.find("ETA"), std::string::npos);

  {
    std::lock_guard lock(mu);
    released = true;
  }
  cv.notify_all();
  EXPECT_EQ(Watch(job).back().state(), collector::SUCCEEDED);
  const std::string done = Dom();
  EXPECT_NE(done.find("data-job=\"" + job + "\" data-state=\"SUCCEEDED\""), std::string::npos)
      << done;
  EXPECT_NE(done.find("nothing running"), std::string::npos);
  EXPECT_NE(done.find("data-collection=\"web/photos\""), std::string::npos);
  EXPECT_NE(done.find("1 backups"), std::string::npos) << done;
}

TEST_F(DashboardTest, TheStateIsJsonAndThePageLoadsNothingFromElsewhere) {
  CreateCollection("web", "a", 10);
  auto [json, status] = Shell("curl -sf " + base_ + "/api/state");
  ASSERT_EQ(status, 0) << json;
  EXPECT_NE(json.find("\"collection\":\"web/a\""), std::string::npos) << json;
  auto [page, page_status] = Shell("curl -sf " + base_ + "/");
  ASSERT_EQ(page_status, 0);
  // The one absolute URL allowed is SVG's namespace name, which is never fetched.
  const std::string svg_ns = "http://www.w3.org/2000/svg";
  for (auto at = page.find(svg_ns); at != std::string::npos; at = page.find(svg_ns)) {
    page.erase(at, svg_ns.size());
  }
  for (const char* other_origin : {"http:", "https:", "\"//", "'//", " src=", "@import", "url("}) {
    EXPECT_EQ(page.find(other_origin), std::string::npos) << other_origin;
  }
}

// With an auth file, the data needs a token and shows only the token's namespaces.
class DashboardAuthTest : public DashboardTest {
 protected:
  void SetUp() override {
    const auto auth = dir_.path() / "auth.json";
    std::ofstream(auth) << R"({"tokens": [{"name": "root", "sha256": ")" << Sha256Hex("root-token")
                        << R"(", "role": "admin", "namespaces": ["*"]}, {"name": "v", "sha256": ")"
                        << Sha256Hex("prod-viewer")
                        << R"(", "role": "viewer", "namespaces": ["prod"]}]})";
    options_.auth_file = auth;
    DashboardTest::SetUp();
    token_ = "root-token";
  }
  std::pair<std::string, int> Get(const std::string& path, const std::string& token) {
    const std::string header = token.empty() ? "" : " -H 'Authorization: Bearer " + token + "'";
    return Shell("curl -s -o - -w ' %{http_code}'" + header + " " + base_ + path);
  }
};

TEST_F(DashboardAuthTest, TheDataNeedsATokenAndShowsOnlyItsNamespaces) {
  CreateCollection("prod", "users", 10);
  CreateCollection("other", "secret", 10);
  EXPECT_TRUE(Get("/api/state", "").first.ends_with(" 401"));
  EXPECT_TRUE(Get("/api/state", "wrong").first.ends_with(" 401"));
  EXPECT_TRUE(Get("/metrics", "").first.ends_with(" 401"));
  EXPECT_TRUE(Get("/metrics", "prod-viewer").first.ends_with(" 200"));
  EXPECT_TRUE(Get("/", "").first.ends_with(" 200")) << "the page itself holds no data";
  const std::string state = Get("/api/state", "prod-viewer").first;
  EXPECT_TRUE(state.ends_with(" 200")) << state;
  EXPECT_NE(state.find("prod/users"), std::string::npos) << state;
  EXPECT_EQ(state.find("other/secret"), std::string::npos) << state;
}

}  // namespace
}  // namespace backup::testing
