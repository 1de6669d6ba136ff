// WatchJob streams and calls waiting for their job (`wait`) hold no thread each and are
// capped: beyond backupd --max-watchers they are refused with RESOURCE_EXHAUSTED before
// anything happens, and a client that leaves gives its place back.
#include <fstream>
#include <thread>

#include "tests/server_fixture.h"
#include "tests/watch_client.h"

namespace backup::testing {
namespace {

using namespace std::chrono_literals;

// A BackupCollection with wait = true, on gRPC's callback client API.
struct WaitingBackup {
  WaitingBackup(collector::CollectionRepo::Stub& repo, const std::string& ns,
                const std::string& name) {
    request.set_wait(true);
    request.mutable_collection()->set_namespace_(ns);
    request.mutable_collection()->set_name(name);
    context.set_deadline(std::chrono::system_clock::now() + 120s);
    repo.async()->BackupCollection(&context, &request, &response, [this](grpc::Status s) {
      std::lock_guard lock(mu);
      status = std::move(s);
      cv.notify_all();
    });
  }
  ~WaitingBackup() {  // the call must end before its context and messages go
    context.TryCancel();
    AwaitEnd(30s);
  }
  std::optional<grpc::Status> AwaitEnd(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, timeout, [&] { return status.has_value(); });
    return status;
  }

  grpc::ClientContext context;
  collector::BackupCollectionRequest request;
  collector::BackupCollectionResponse response;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<grpc::Status> status;  // guarded by mu
};

int ThreadsOfThisProcess() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

class WatchTest : public ServerTest {
 protected:
  void SetUp() override {}  // each test starts its own server

  // Waits until the server counts `n` open streams and waiting calls.
  void AwaitWatchers(int n) {
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (server_->watchers() != n && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(10ms);
    }
    ASSERT_EQ(server_->watchers(), n);
  }

  int CountJobs() {
    collector::ListJobsRequest request;
    request.set_page_size(1000);
    collector::ListJobsResponse response;
    auto status = jobs_->ListJobs(Ctx().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.jobs_size();
  }

  void CancelJob(const std::string& job_id) {
    collector::CancelJobRequest request;
    request.set_job_id(job_id);
    collector::CancelJobResponse response;
    auto status = jobs_->CancelJob(Ctx().get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
};

TEST_F(WatchTest, BeyondTheCapStreamsAndWaitingCallsAreRefusedAndChangeNothing) {
  options_.watch.max_followers = 3;
  StartServer(/*workers=*/0);  // jobs stay QUEUED until cancelled
  CreateCollection("ns", "c", 10);
  const std::string job = Backup("ns", "c").job().job_id();

  WatchReader first(*jobs_, job), second(*jobs_, job);
  ASSERT_TRUE(first.AwaitMessages(1, 10s));
  ASSERT_TRUE(second.AwaitMessages(1, 10s));
  WaitingBackup waiting(*repo_, "ns", "c");
  AwaitWatchers(3);
  const int jobs_before = CountJobs();

  WatchReader refused(*jobs_, job);
  auto status = refused.AwaitEnd(10s);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status->error_message().find("--max-watchers"), std::string::npos)
      << status->error_message();
  EXPECT_EQ(refused.messages(), 0);

  collector::BackupCollectionRequest request;
  request.set_wait(true);
  request.mutable_collection()->set_namespace_("ns");
  request.mutable_collection()->set_name("c");
  collector::BackupCollectionResponse response;
  auto sync = repo_->BackupCollection(Ctx().get(), request, &response);
  EXPECT_EQ(sync.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << sync.error_message();
  EXPECT_EQ(CountJobs(), jobs_before) << "a refused waiting call must not enqueue its job";
  request.set_wait(false);  // answered at once: needs no place
  ASSERT_TRUE(repo_->BackupCollection(Ctx().get(), request, &response).ok());
  EXPECT_EQ(CountJobs(), jobs_before + 1);

  first.Cancel();  // a client that leaves gives its place back
  ASSERT_TRUE(first.AwaitEnd(10s));
  AwaitWatchers(2);
  WatchReader third(*jobs_, job);
  ASSERT_TRUE(third.AwaitMessages(1, 10s));

  CancelJob(job);  // every stream of the job sees its end
  for (WatchReader* r : {&second, &third}) {
    auto end = r->AwaitEnd(10s);
    ASSERT_TRUE(end);
    EXPECT_TRUE(end->ok()) << end->error_message();
    EXPECT_EQ(r->last().state(), collector::CANCELLED);
  }
  auto waited = waiting.AwaitEnd(100ms);
  EXPECT_FALSE(waited) << "the waiting call answered before its job ended";
  collector::ListJobsRequest queued;
  queued.set_state(collector::QUEUED);
  collector::ListJobsResponse left;
  ASSERT_TRUE(jobs_->ListJobs(Ctx().get(), queued, &left).ok());
  for (const auto& j : left.jobs()) CancelJob(j.job_id());
  waited = waiting.AwaitEnd(10s);
  ASSERT_TRUE(waited);
  EXPECT_EQ(waited->error_code(), grpc::StatusCode::CANCELLED) << waited->error_message();
  AwaitWatchers(0);
}

// 1,000 streams and 200 waiting calls: the server's (and this process's) thread count
// barely moves, and every one of them gets its job's end.
TEST_F(WatchTest, StreamsAndWaitingCallsHoldNoThreadEach) {
  constexpr int kStreams = 1000, kWaiting = 200;
  StartServer(/*workers=*/0);
  CreateCollection("ns", "c", 10);
  const std::string job = Backup("ns", "c").job().job_id();
  const int threads_before = ThreadsOfThisProcess();

  std::vector<std::unique_ptr<WatchReader>> streams;
  streams.reserve(kStreams);
  for (int i = 0; i < kStreams; ++i) streams.push_back(std::make_unique<WatchReader>(*jobs_, job));
  std::vector<std::unique_ptr<WaitingBackup>> waiting;
  waiting.reserve(kWaiting);
  for (int i = 0; i < kWaiting; ++i) {
    waiting.push_back(std::make_unique<WaitingBackup>(*repo_, "ns", "c"));
  }
  for (auto& s : streams) ASSERT_TRUE(s->AwaitMessages(1, 20s));
  AwaitWatchers(kStreams + kWaiting);
  const int threads_open = ThreadsOfThisProcess();
  EXPECT_LT(threads_open - threads_before, 50)
      << threads_before << " threads before, " << threads_open << " with " << kStreams + kWaiting
      << " open calls";

  CancelJob(job);
  for (auto& s : streams) {
    auto end = s->AwaitEnd(20s);
    ASSERT_TRUE(end);
    EXPECT_TRUE(end->ok()) << end->error_message();
    EXPECT_EQ(s->last().state(), collector::CANCELLED);
  }
  collector::ListJobsRequest queued;
  queued.set_state(collector::QUEUED);
  queued.set_page_size(1000);
  collector::ListJobsResponse left;
  ASSERT_TRUE(jobs_->ListJobs(Ctx().get(), queued, &left).ok());
  EXPECT_EQ(left.jobs_size(), kWaiting);
  for (const auto& j : left.jobs()) CancelJob(j.job_id());
  for (auto& w : waiting) {
    auto end = w->AwaitEnd(20s);
    ASSERT_TRUE(end);
    EXPECT_EQ(end->error_code(), grpc::StatusCode::CANCELLED) << end->error_message();
  }
  AwaitWatchers(0);
}

}  // namespace
}  // namespace backup::testing
