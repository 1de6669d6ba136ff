// backup-bench: the figures behind BENCHMARKS.md. Each scenario runs our code and its
// baseline (the sqlite3 command line, cp) side by side in the same run, and prints one
// JSON object per scenario, then a table. Run by hand, not by ctest:
//   build/bin/backup-bench [--scenarios snapshot,files,queue,listing,availability,scale,watch,
//                           offsite (= s3,codec,archive), control (SQLite and PostgreSQL),
//                           incremental, copy-speed, chunk-study]
//                          [--gb 1.0] [--reps 3] [--dir /var/tmp]
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <grpcpp/grpcpp.h>

#include "tests/bench/bench_server.h"
#include "tests/bench/bench_util.h"

namespace backup::bench {
namespace fs = std::filesystem;

// 7. Scale: 500 small collections backed up with 1, 2 and 4 worker threads, and with two
// backup-worker processes.
void Scale(const Settings& s) {
  fs::path root = FreshDir(s, "scale");
  const fs::path data = root / "data";
  {
    Server server(data, 0);
    for (int c = 0; c < 500; ++c) server.Collection("scale", "c" + std::to_string(c), 200, 200);
  }
  auto run = [&](const std::string& label, int threads, int processes) {
    Server server(data, threads);
    std::vector<std::string> ids;
    auto t = Clock::now();
    std::vector<FILE*> workers;
    for (int p = 0; p < processes; ++p) {
      std::string cmd = std::string(BACKUP_WORKER_PATH) + " --data-dir " + data.string() +
                        " --workers 2 --log-level warn 2>/dev/null & echo $!";
      workers.push_back(popen(cmd.c_str(), "r"));
    }
    for (int c = 0; c < 500; ++c) {
      collector::BackupCollectionRequest r;
      r.set_wait(false);
      r.mutable_collection()->set_namespace_("scale");
      r.mutable_collection()->set_name("c" + std::to_string(c));
      collector::BackupCollectionResponse resp;
      grpc::ClientContext ctx;
      if (auto status = server.repo->BackupCollection(&ctx, r, &resp); !status.ok()) {
        std::fprintf(stderr, "backup-bench: scale: %s\n", status.error_message().c_str());
        std::exit(1);
      }
      ids.push_back(resp.job().job_id());
    }
    for (const auto& id : ids) {
      collector::WatchJobRequest w;
      w.set_job_id(id);
      grpc::ClientContext ctx;
      auto reader = server.jobs->WatchJob(&ctx, w);
      collector::Job job;
      while (reader->Read(&job)) {
      }
      (void)reader->Finish();
    }
    const double secs = SecondsSince(t);
    for (FILE* f : workers) {
      char pid[32] = {};
      if (std::fgets(pid, sizeof pid, f)) {
        const std::string p = std::to_string(std::atoi(pid));
        std::string stop = "kill -TERM ";
        stop.append(p).append("; while kill -0 ").append(p);
        stop.append(" 2>/dev/null; do sleep 0.05; done");
        (void)std::system(stop.c_str());
      }
      pclose(f);
    }
    Report("scale " + label, {{"backups_per_s", 500 / secs, "backups/s"}, {"seconds", secs, "s"}});
  };
  run("1 thread", 1, 0);
  run("2 threads", 2, 0);
  run("4 threads", 4, 0);
  run("2 backup-worker processes", 0, 2);
  Cleanup(root);
}

namespace {

int Run(int argc, char** argv) {
  Settings s;
  std::string scenarios = "snapshot,files,queue,listing,availability,scale,watch";
  std::string dir = s.dir.string();
  CLI::App app{"backup-bench: Collector Backup against sqlite3 and cp, side by side"};
  app.add_option("--scenarios", scenarios, "comma-separated")->capture_default_str();
  app.add_option("--gb", s.gb, "size of the large collection and file set, GiB")
      ->capture_default_str();
  app.add_option("--reps", s.reps, "repetitions per figure (medians)")->capture_default_str();
  app.add_option("--dir", dir, "where to put the data")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  s.dir = dir;
  // BENCH_LOG=info (or debug) shows the server's log lines, phase timings included.
  const char* log = std::getenv("BENCH_LOG");
  auto level = log ? spdlog::level::from_str(log) : spdlog::level::warn;
  if (level == spdlog::level::off && std::string_view(log) != "off") level = spdlog::level::info;
  spdlog::set_level(level);
  std::set<std::string> chosen;
  std::stringstream in(scenarios);
  for (std::string item; std::getline(in, item, ',');) chosen.insert(item);
  if (chosen.count("snapshot")) Snapshot(s);
  if (chosen.count("files")) Files(s);
  if (chosen.count("queue")) Queue(s);
  if (chosen.count("listing")) Listing(s);
  if (chosen.count("availability")) Availability(s);
  if (chosen.count("scale")) Scale(s);
  if (chosen.count("watch")) Watch(s);
  if (chosen.count("control")) ControlStores(s);
  if (chosen.count("incremental")) Incremental(s);
  if (chosen.count("copy-speed")) CopySpeed(s);
  if (chosen.count("chunk-study")) ChunkStudy(s);
  const bool offsite = chosen.count("offsite") > 0;
  if (offsite || chosen.count("s3") || chosen.count("codec") || chosen.count("archive")) {
    Offsite(s, offsite || chosen.count("s3"), offsite || chosen.count("codec"),
            offsite || chosen.count("archive"));
  }
  PrintTable();
  return 0;
}

}  // namespace
}  // namespace backup::bench

int main(int argc, char** argv) {
  try {
    return backup::bench::Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "backup-bench: %s\n", e.what());
    return 1;
  }
}
