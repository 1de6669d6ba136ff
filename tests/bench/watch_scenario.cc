// Watch: 10,000 open WatchJob streams on a quiet backupd running as its own process: its
// memory, CPU and threads, and GetJob latency, without and with the streams open.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "tests/bench/bench_server.h"
#include "tests/bench/bench_util.h"
#include "tests/watch_client.h"

namespace backup::bench {
namespace fs = std::filesystem;
namespace {

using testing::WatchReader;

constexpr int kStreams = 10'000;
constexpr int kJobs = 100;      // queued jobs the streams follow, round robin
constexpr int kChannels = 8;    // client connections
constexpr int kGetJobs = 1000;  // GetJob calls per latency sample
constexpr int kWindowS = 5;     // seconds per CPU sample

struct ProcessSample {
  double rss_mb = 0;
  int threads = 0;
  int64_t cpu_ticks = 0;  // user + system
};

ProcessSample Sample(pid_t pid) {
  ProcessSample s;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_mb = std::stod(line.substr(6)) / 1024;
    if (line.rfind("Threads:", 0) == 0) s.threads = std::stoi(line.substr(8));
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::string field;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14 || i == 15) s.cpu_ticks += std::stoll(field);
  }
  return s;
}

// backupd with no workers (a quiet server: nothing changes) as a child process.
struct BackupdChild {
  explicit BackupdChild(const fs::path& data) {
    const fs::path port_file = data.parent_path() / "port";
    pid = ::fork();
    if (pid == 0) {
      const std::string d = data.string(), p = port_file.string();
      ::execl(BACKUPD_PATH, BACKUPD_PATH, "--data-dir", d.c_str(), "--listen", "127.0.0.1:0",
              "--port-file", p.c_str(), "--workers", "0", "--log-level", "warn",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 200 && port == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      std::ifstream(port_file) >> port;
    }
    if (port == 0) {
      std::fprintf(stderr, "backup-bench: watch: backupd did not start\n");
      std::exit(1);
    }
  }
  ~BackupdChild() {
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
  pid_t pid = -1;
  int port = 0;
};

// CPU used by `pid` over kWindowS seconds, as a percentage of one core.
double CpuPercent(pid_t pid) {
  const auto before = Sample(pid).cpu_ticks;
  std::this_thread::sleep_for(std::chrono::seconds(kWindowS));
  const auto used = Sample(pid).cpu_ticks - before;
  return 100.0 * static_cast<double>(used) / static_cast<double>(::sysconf(_SC_CLK_TCK)) / kWindowS;
}

// kGetJobs sequential GetJob calls; their latencies in ms.
std::vector<double> GetJobLatencies(collector::BackupJobs::Stub& stub,
                                    const std::vector<std::string>& ids,
                                    std::atomic<int64_t>& errors) {
  std::vector<double> ms;
  for (int i = 0; i < kGetJobs; ++i) {
    collector::GetJobRequest request;
    request.set_job_id(ids[static_cast<size_t>(i) % ids.size()]);
    collector::GetJobResponse response;
    grpc::ClientContext ctx;
    const auto t = Clock::now();
    auto status = stub.GetJob(&ctx, request, &response);
    ms.push_back(SecondsSince(t) * 1000);
    if (!status.ok()) LogError("watch", "GetJob: " + status.error_message(), errors);
  }
  return ms;
}

struct Phase {
  ProcessSample process;
  std::vector<double> cpu_percent;  // one per window
  std::vector<double> latencies_ms;
  std::vector<double> p99_per_rep;
};

Phase Measure(const Settings& s, pid_t pid, collector::BackupJobs::Stub& stub,
              const std::vector<std::string>& ids, std::atomic<int64_t>& errors) {
  Phase phase;
  phase.process = Sample(pid);
  for (int rep = 0; rep < s.reps; ++rep) {
    phase.cpu_percent.push_back(CpuPercent(pid));
    auto ms = GetJobLatencies(stub, ids, errors);
    phase.p99_per_rep.push_back(Percentile(ms, 99));
    phase.latencies_ms.insert(phase.latencies_ms.end(), ms.begin(), ms.end());
  }
  return phase;
}

std::vector<std::string> QueueJobs(collector::CollectionRepo::Stub& repo) {
  std::vector<std::string> ids;
  for (int j = 0; j < kJobs; ++j) {
    collector::BackupCollectionRequest r;
    r.set_wait(false);
    r.mutable_collection()->set_namespace_("watch");
    r.mutable_collection()->set_name("c");
    collector::BackupCollectionResponse resp;
    grpc::ClientContext ctx;
    if (auto status = repo.BackupCollection(&ctx, r, &resp); !status.ok()) {
      std::fprintf(stderr, "backup-bench: watch: %s\n", status.error_message().c_str());
      std::exit(1);
    }
    ids.push_back(resp.job().job_id());
  }
  return ids;
}

void ReportPhase(const std::string& label, const Phase& p, int streams) {
  Report("watch " + label,
         {{"streams", static_cast<double>(streams), ""},
          {"rss", p.process.rss_mb, "MB"},
          {"threads", static_cast<double>(p.process.threads), ""},
          {"cpu_median", Median(p.cpu_percent), "% core"},
          {"cpu_max", *std::max_element(p.cpu_percent.begin(), p.cpu_percent.end()), "% core"},
          {"getjob_p50", Percentile(p.latencies_ms, 50), "ms"},
          {"getjob_p99", Percentile(p.latencies_ms, 99), "ms"},
          {"getjob_p99_min", *std::min_element(p.p99_per_rep.begin(), p.p99_per_rep.end()), "ms"},
          {"getjob_p99_max", *std::max_element(p.p99_per_rep.begin(), p.p99_per_rep.end()), "ms"}});
}

}  // namespace

void Watch(const Settings& s) {
  fs::path root = FreshDir(s, "watch");
  const fs::path data = root / "data";
  {
    Server setup(data, 0);  // creates the collection in this process, then stops
    setup.Collection("watch", "c", 100, 100);
  }
  BackupdChild backupd(data);
  const std::string address = "127.0.0.1:" + std::to_string(backupd.port);
  auto control = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto repo = collector::CollectionRepo::NewStub(control);
  auto jobs = collector::BackupJobs::NewStub(control);
  const auto ids = QueueJobs(*repo);
  std::atomic<int64_t> errors{0};
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const Phase idle = Measure(s, backupd.pid, *jobs, ids, errors);

  std::vector<std::unique_ptr<collector::BackupJobs::Stub>> stubs;
  for (int c = 0; c < kChannels; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("backup-bench.connection", c);  // a connection of its own
    stubs.push_back(collector::BackupJobs::NewStub(
        grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args)));
  }
  const auto t = Clock::now();
  std::vector<std::unique_ptr<WatchReader>> streams;
  streams.reserve(kStreams);
  for (int i = 0; i < kStreams; ++i) {
    streams.push_back(std::make_unique<WatchReader>(*stubs[static_cast<size_t>(i % kChannels)],
                                                    ids[static_cast<size_t>(i % kJobs)]));
  }
  for (auto& r : streams) {
    if (!r->AwaitMessages(1, std::chrono::seconds(60))) {
      auto end = r->AwaitEnd(std::chrono::milliseconds(0));
      LogError("watch", "stream got no first message: " + (end ? end->error_message() : "open"),
               errors);
    }
  }
  const double open_s = SecondsSince(t);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const Phase open = Measure(s, backupd.pid, *jobs, ids, errors);

  for (auto& r : streams) r->Cancel();
  for (auto& r : streams) {
    auto end = r->AwaitEnd(std::chrono::seconds(30));
    if (!end || end->error_code() != grpc::StatusCode::CANCELLED) {
      LogError("watch", "stream ended with " + (end ? end->error_message() : "nothing"), errors);
    }
  }
  ReportPhase("idle", idle, 0);
  ReportPhase("10000 streams", open, kStreams);
  Report("watch totals",
         {{"open_seconds", open_s, "s"},
          {"rss_per_stream", (open.process.rss_mb - idle.process.rss_mb) * 1024 * 1024 / kStreams,
           "bytes"},
          {"errors", static_cast<double>(errors.load()), ""}});
  Cleanup(root);
}

}  // namespace backup::bench
