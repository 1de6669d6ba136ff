// backup-bench: the figures behind BENCHMARKS.md. Each scenario runs our code and its
// baseline (the sqlite3 command line, cp) side by side in the same run, and prints one
// JSON object per scenario, then a table. Run by hand, not by ctest:
//   build/bin/backup-bench [--scenarios snapshot,files,hashing,queue,listing,availability,scale]
//                          [--gb 1.0] [--reps 3] [--dir /var/tmp]
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "backup_jobs.grpc.pb.h"
#include "collection_repo.grpc.pb.h"
#include "common/fs.h"
#include "common/ids.h"
#include "common/sqlite.h"
#include "server/backup_server.h"
#include "tests/bench/bench_util.h"
#include "worker/file_tree.h"

namespace backup::bench {
namespace {
namespace fs = std::filesystem;

struct Settings {
  double gb = 1.0;
  int reps = 3;
  fs::path dir = fs::temp_directory_path();
};

// A backupd in this process on a fresh (or given) data directory.
struct Server {
  Server(const fs::path& data, int workers) {
    BackupServerOptions o;
    o.host.data_dir = data;
    o.listen = "127.0.0.1:0";
    o.host.pool.threads = workers;
    auto s = BackupServer::Start(o);
    if (!s) {
      std::fprintf(stderr, "backup-bench: %s\n", s.error().message().c_str());
      std::exit(1);
    }
    server = std::move(*s);
    channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server->port()),
                                  grpc::InsecureChannelCredentials());
    repo = collector::CollectionRepo::NewStub(channel);
    jobs = collector::BackupJobs::NewStub(channel);
    layout = std::make_unique<DataLayout>(data);
  }
  ~Server() { server->Shutdown(); }

  // Creates ns/name over gRPC and fills it with `rows` records of `payload` random bytes.
  void Collection(const std::string& ns, const std::string& name, int64_t rows, int payload) {
    collector::CreateCollectionRequest r;
    r.mutable_collection()->set_namespace_(ns);
    r.mutable_collection()->set_name(name);
    collector::CreateCollectionResponse resp;
    grpc::ClientContext ctx;
    if (!repo->CreateCollection(&ctx, r, &resp).ok()) std::exit(1);
    if (rows == 0) return;
    auto db = sql::Database::Open(layout->CollectionDb({ns, name}).string(), {});
    (void)db->Run(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) "
        "INSERT INTO records (id, proto_data, labels) SELECT printf('r%010d', i), randomblob(?2), "
        "'{\"i\":' || i || '}' FROM n",
        {rows, static_cast<int64_t>(payload)});
  }

  // A backup submitted over gRPC and followed to its end (wait). Returns the response.
  collector::BackupCollectionResponse Backup(const std::string& ns, const std::string& name,
                                             bool files) {
    collector::BackupCollectionRequest r;
    r.mutable_collection()->set_namespace_(ns);
    r.mutable_collection()->set_name(name);
    r.set_include_files(files);
    r.set_wait(true);
    collector::BackupCollectionResponse resp;
    grpc::ClientContext ctx;
    auto s = repo->BackupCollection(&ctx, r, &resp);
    if (!s.ok() || resp.job().state() != collector::SUCCEEDED) {
      std::fprintf(stderr, "backup-bench: backup failed: %s\n", s.error_message().c_str());
      std::exit(1);
    }
    return resp;
  }

  std::unique_ptr<BackupServer> server;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<collector::CollectionRepo::Stub> repo;
  std::unique_ptr<collector::BackupJobs::Stub> jobs;
  std::unique_ptr<DataLayout> layout;
};

void Cleanup(const fs::path& root) {
  std::error_code ec;
  fs::remove_all(root, ec);
}

fs::path FreshDir(const Settings& s, const std::string& name) {
  fs::path p = s.dir / ("backup-bench-" + name + "-" + RandomHex(3));
  fs::create_directories(p);
  return p;
}

// 1 + 3. Snapshot: our job end to end against `sqlite3 VACUUM INTO` + sync; and the share
// of the job spent hashing.
void Snapshot(const Settings& s) {
  fs::path root = FreshDir(s, "snapshot");
  Server server(root / "data", 2);
  struct Size {
    std::string name;
    int64_t rows;
    int payload;
  };
  const int64_t gb_rows = static_cast<int64_t>(s.gb * 1024 * 1024 * 1024 / 1100);
  for (const Size& size :
       {Size{"10k", 10'000, 100}, Size{"100k", 100'000, 100}, Size{"1gb", gb_rows, 1000}}) {
    server.Collection("bench", size.name, size.rows, size.payload);
    const fs::path src = server.layout->CollectionDb({"bench", size.name});
    std::vector<double> ours, base, hash;
    // Both sides keep their outputs until the scenario ends, so both write to fresh disk
    // blocks (rewriting just-freed blocks is much faster on this VM's disk), and they take
    // turns going first.
    for (int rep = 0; rep < s.reps; ++rep) {
      const fs::path dst = root / ("baseline-" + size.name + "-" + std::to_string(rep) + ".db");
      auto baseline = [&] {
        base.push_back(TimeShell("sqlite3 '" + src.string() + "' \"VACUUM INTO '" + dst.string() +
                                 "'\" && sync"));
      };
      if (rep % 2 == 0) baseline();
      auto t = Clock::now();
      auto resp = server.Backup("bench", size.name, false);
      ours.push_back(SecondsSince(t));
      if (rep % 2 == 1) baseline();
      auto h = Clock::now();
      (void)HashFile(resp.backup().storage_path(), nullptr);
      hash.push_back(SecondsSince(h));
    }
    const double o = Median(ours), b = Median(base);
    Report("snapshot " + size.name,
           {{"bytes", static_cast<double>(fs::file_size(src)), "B"},
            {"ours_s", o, "s"},
            {"baseline_s", b, "s (sqlite3 VACUUM INTO + sync)"},
            {"ratio", o / b, "ours/baseline"},
            {"overhead_ms", (o - b) * 1000, "ms (ours - baseline)"},
            {"hash_share", Median(hash) / o, "of our job time, re-hashing the snapshot"}});
  }
  Cleanup(root);
}

// 2. Files: the files phase (CopyTree, the code the job runs) against cp -r + sync.
void Files(const Settings& s) {
  struct Shape {
    std::string name;
    int count;
    int64_t bytes;
  };
  const int64_t big = static_cast<int64_t>(s.gb * 1024 * 1024 * 1024 / 1000);
  for (const Shape& shape :
       {Shape{"1000 files", 1000, big}, Shape{"20000 small files", 20'000, 4096}}) {
    fs::path root = FreshDir(s, "files");
    fs::path src = root / "src";
    std::mt19937_64 rng(7);
    std::string data(static_cast<size_t>(shape.bytes), '\0');
    for (int i = 0; i < shape.count; ++i) {
      for (auto& c : data) c = static_cast<char>(rng());
      fs::path p = src / ("d" + std::to_string(i % 20)) / ("f" + std::to_string(i));
      fs::create_directories(p.parent_path());
      FILE* f = std::fopen(p.c_str(), "wb");
      std::fwrite(data.data(), 1, data.size(), f);
      std::fclose(f);
    }
    (void)std::system("sync");
    std::vector<double> ours, base;
    for (int rep = 0; rep < s.reps; ++rep) {
      const std::string n = std::to_string(rep);
      auto baseline = [&] {
        base.push_back(TimeShell("cp -r '" + src.string() + "' '" + (root / ("cp" + n)).string() +
                                 "' && sync"));
      };
      if (rep % 2 == 0) baseline();
      auto files = ListFiles(src);
      JobContext ctx(Job{.id = "job-bench"}, Lease{});
      auto t = Clock::now();
      auto manifest = CopyTree(src, *files, root / ("ours" + n), ctx);
      ours.push_back(SecondsSince(t));
      if (!manifest) std::exit(1);
      if (rep % 2 == 1) baseline();
    }
    // The same copies without the final flush: what our code costs in CPU and page cache,
    // apart from the disk (whose speed varies a lot on this VM).
    std::vector<double> ours_cached, base_cached;
    for (int rep = 0; rep < s.reps; ++rep) {
      const std::string n = "c" + std::to_string(rep);
      base_cached.push_back(
          TimeShell("cp -r '" + src.string() + "' '" + (root / ("cp" + n)).string() + "'"));
      auto files = ListFiles(src);
      JobContext ctx(Job{.id = "job-bench"}, Lease{});
      auto t = Clock::now();
      if (!CopyTree(src, *files, root / ("ours" + n), ctx, /*sync=*/false)) std::exit(1);
      ours_cached.push_back(SecondsSince(t));
      (void)std::system("sync");
    }
    const double o = Median(ours), b = Median(base);
    Report("files " + shape.name,
           {{"bytes", static_cast<double>(DiskBytes(src)), "B"},
            {"ours_s", o, "s (copy + SHA-256 + syncfs)"},
            {"baseline_s", b, "s (cp -r + sync)"},
            {"ratio", o / b, "ours/baseline"},
            {"ours_cached_s", Median(ours_cached), "s, without the flush"},
            {"baseline_cached_s", Median(base_cached), "s, cp -r without sync"},
            {"cached_ratio", Median(ours_cached) / Median(base_cached), "ours/baseline"}});
    Cleanup(root);
  }
}

// 4. Queue: durable enqueues/s with 1, 8, 32 clients; submit->RUNNING latency when idle.
void Queue(const Settings& s) {
  fs::path root = FreshDir(s, "queue");
  {
    Server server(root / "data", 0);
    server.Collection("bench", "tiny", 10, 10);
    for (int clients : {1, 8, 32}) {
      const int per_client = clients == 1 ? 300 : 1200 / clients;
      std::atomic<int> errors{0};
      auto t = Clock::now();
      std::vector<std::thread> threads;
      for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
          grpc::ChannelArguments args;
          args.SetInt("bench.client", c);  // distinct arguments: one connection per client
          auto channel =
              grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server.server->port()),
                                        grpc::InsecureChannelCredentials(), args);
          auto repo = collector::CollectionRepo::NewStub(channel);
          for (int i = 0; i < per_client; ++i) {
            collector::BackupCollectionRequest r;
            r.mutable_collection()->set_namespace_("bench");
            r.mutable_collection()->set_name("tiny");
            collector::BackupCollectionResponse resp;
            grpc::ClientContext ctx;
            if (!repo->BackupCollection(&ctx, r, &resp).ok()) ++errors;
          }
        });
      }
      for (auto& th : threads) th.join();
      const double secs = SecondsSince(t);
      Report("queue enqueue " + std::to_string(clients) + " clients",
             {{"jobs", static_cast<double>(clients * per_client), "jobs"},
              {"jobs_per_s", clients * per_client / secs, "durable enqueues/s"},
              {"errors", static_cast<double>(errors.load()), ""}});
    }
  }
  Cleanup(root);
  root = FreshDir(s, "latency");
  {
    Server server(root / "data", 2);
    server.Collection("bench", "tiny", 10, 10);
    std::vector<double> latency;
    for (int i = 0; i < 200; ++i) {
      auto resp = server.Backup("bench", "tiny", false);
      latency.push_back(
          static_cast<double>(resp.job().started_at_ms() - resp.job().created_at_ms()));
    }
    Report("queue submit->RUNNING (idle)",
           {{"p50_ms", Percentile(latency, 50), "ms"}, {"p99_ms", Percentile(latency, 99), "ms"}});
  }
  Cleanup(root);
}

// 5. Listing with 100,000 backups and jobs.
void Listing(const Settings& s) {
  fs::path root = FreshDir(s, "listing");
  const fs::path data = root / "data";
  {
    Server server(data, 0);
    for (int c = 0; c < 10; ++c)
      server.Collection("ns" + std::to_string(c % 3), "c" + std::to_string(c), 1, 1);
  }
  {
    auto db = sql::Database::Open((data / "control.db").string(), {});
    (void)db->Exec("BEGIN");
    auto job = db->Prepare(
        "INSERT INTO jobs (job_id, kind, state, collection_namespace, collection_name, backup_id, "
        "max_attempts, run_after, created_at, updated_at, finished_at) VALUES (?1, 'BACKUP', ?2, "
        "?3, ?4, ?5, 3, 0, ?6, ?6, ?6)");
    auto backup = db->Prepare(
        "INSERT INTO backups (backup_id, collection_namespace, collection_name, timestamp, "
        "size_bytes, "
        "record_count, file_count, includes_files, storage_path, storage_type, metadata, "
        "created_at, "
        "state, job_id, created_at_ms) VALUES (?1, ?2, ?3, ?4, 1, 1, 0, 0, ?5, 'local', "
        "'{\"k\":\"v\"}', ?4, "
        "'COMPLETED', ?6, ?7)");
    for (int i = 0; i < 100'000; ++i) {
      const int c = i % 10;
      const std::string ns = "ns" + std::to_string(c % 3), name = "c" + std::to_string(c);
      const std::string id = "backup-" + std::to_string(1'000'000 + i),
                        jid = "job-" + std::to_string(1'000'000 + i);
      const int64_t ts = 1'700'000'000 + i;
      (void)backup->Bind({id, ns, name, ts, "/b/" + id, jid, ts * 1000}).Run();
      backup->Reset();
      (void)job->Bind({jid, i % 10 == 0 ? "FAILED" : "SUCCEEDED", ns, name, id, ts * 1000}).Run();
      job->Reset();
    }
    (void)db->Exec("COMMIT; ANALYZE;");
  }
  Server server(data, 0);
  auto time_calls = [&](const std::string& label, auto call) {
    std::vector<double> ms;
    for (int i = 0; i < 200; ++i) {
      auto t = Clock::now();
      call();
      ms.push_back(SecondsSince(t) * 1000);
    }
    Report("listing " + label,
           {{"p50_ms", Percentile(ms, 50), "ms"}, {"p99_ms", Percentile(ms, 99), "ms"}});
  };
  auto backups = [&](auto fill) {
    return [&, fill] {
      collector::ListBackupsRequest r;
      r.set_limit(100);
      fill(r);
      collector::ListBackupsResponse resp;
      grpc::ClientContext ctx;
      if (!server.repo->ListBackups(&ctx, r, &resp).ok() || resp.backups_size() == 0) std::exit(1);
    };
  };
  time_calls("ListBackups (no filter)", backups([](auto&) {}));
  time_calls("ListBackups collection", backups([](auto& r) {
               r.mutable_collection()->set_namespace_("ns1");
               r.mutable_collection()->set_name("c4");
             }));
  time_calls("ListBackups namespace", backups([](auto& r) { r.set_namespace_("ns2"); }));
  time_calls("ListBackups since", backups([](auto& r) { r.set_since_timestamp(1'700'050'000); }));
  auto jobs = [&](auto fill) {
    return [&, fill] {
      collector::ListJobsRequest r;
      r.set_page_size(100);
      fill(r);
      collector::ListJobsResponse resp;
      grpc::ClientContext ctx;
      if (!server.jobs->ListJobs(&ctx, r, &resp).ok() || resp.jobs_size() == 0) std::exit(1);
    };
  };
  time_calls("ListJobs (no filter)", jobs([](auto&) {}));
  time_calls("ListJobs state", jobs([](auto& r) { r.set_state(collector::FAILED); }));
  time_calls("ListJobs kind", jobs([](auto& r) { r.set_kind(collector::BACKUP); }));
  time_calls("ListJobs collection", jobs([](auto& r) {
               r.mutable_collection()->set_namespace_("ns1");
               r.mutable_collection()->set_name("c4");
             }));
  Cleanup(root);
}

// 6. Availability: 8 readers and 2 writers on the collection, with and without a backup.
struct Load {
  std::atomic<int64_t> reads{0}, writes{0}, errors{0}, max_write_us{0}, max_wal{0};
  std::atomic<int64_t> max_write_at_ms{0};  // when the longest write started, from the load's start
  Clock::time_point start = Clock::now();
  std::vector<double> write_ms;  // guarded by mu
  std::mutex mu;
};

void RunLoad(const fs::path& db_path, int64_t rows, const std::atomic<bool>& stop, Load& load) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 10; ++t) {
    threads.emplace_back([&, t] {
      auto db = sql::Database::Open(db_path.string(), {.busy_timeout_ms = 5000});
      if (!db) return;
      (void)db->Exec(std::getenv("BENCH_NO_AUTOCKPT")
                         ? "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0"
                         : "PRAGMA synchronous=NORMAL");  // what a WAL application sets
      std::mt19937_64 rng(static_cast<uint64_t>(t));
      const bool writer = t < 2;
      auto stmt = db->Prepare(
          writer ? "INSERT OR REPLACE INTO records (id, proto_data) VALUES (?1, randomblob(1000))"
                 : "SELECT length(proto_data) FROM records WHERE id = ?1");
      std::vector<double> local;
      while (!stop) {
        char id[16];
        std::snprintf(id, sizeof id, "r%010lld", static_cast<long long>(rng() % rows + 1));
        auto t0 = Clock::now();
        auto ran = stmt->Bind({std::string_view(id)}).Run();
        stmt->Reset();
        if (!ran) {
          ++load.errors;
          continue;
        }
        if (writer) {
          double ms = SecondsSince(t0) * 1000;
          local.push_back(ms);
          int64_t us = static_cast<int64_t>(ms * 1000);
          int64_t prev = load.max_write_us;
          while (us > prev && !load.max_write_us.compare_exchange_weak(prev, us)) {
          }
          if (us >= load.max_write_us) {
            load.max_write_at_ms =
                std::chrono::duration_cast<std::chrono::milliseconds>(t0 - load.start).count();
          }
          ++load.writes;
        } else {
          ++load.reads;
        }
      }
      std::lock_guard lock(load.mu);
      load.write_ms.insert(load.write_ms.end(), local.begin(), local.end());
    });
  }
  threads.emplace_back([&] {
    while (!stop) {
      struct stat st {};
      if (::stat((db_path.string() + "-wal").c_str(), &st) == 0 && st.st_size > load.max_wal)
        load.max_wal = st.st_size;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  for (auto& th : threads) th.join();
}

void Availability(const Settings& s) {
  fs::path root = FreshDir(s, "availability");
  Server server(root / "data", 2);
  const int64_t rows = static_cast<int64_t>(s.gb * 1024 * 1024 * 1024 / 1100);
  server.Collection("bench", "live", rows, 1000);
  const fs::path db = server.layout->CollectionDb({"bench", "live"});
  {  // put the collection in WAL mode with an application's settings
    auto conn = sql::Database::Open(db.string(), {});
    (void)conn->Exec("PRAGMA journal_mode=WAL; PRAGMA wal_checkpoint(TRUNCATE);");
  }
  auto measure = [&](bool with_backup, double seconds) {
    Load load;
    std::atomic<bool> stop{false};
    std::thread runner([&] { RunLoad(db, rows, stop, load); });
    auto t = Clock::now();
    if (with_backup) {
      server.Backup("bench", "live", false);
    } else {
      std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    }
    double secs = SecondsSince(t);
    stop = true;
    runner.join();
    struct Out {
      double secs, reads_s, writes_s, p99, max_ms, max_at_ms, errors, wal;
    };
    return Out{secs,
               static_cast<double>(load.reads) / secs,
               static_cast<double>(load.writes) / secs,
               Percentile(load.write_ms, 99),
               static_cast<double>(load.max_write_us) / 1000.0,
               static_cast<double>(load.max_write_at_ms),
               static_cast<double>(load.errors),
               static_cast<double>(load.max_wal)};
  };
  auto during = measure(true, 0);
  auto without = measure(false, during.secs);
  Report("availability during backup",
         {{"backup_s", during.secs, "s"},
          {"reads_per_s", during.reads_s, "reads/s (8 readers)"},
          {"reads_per_s_baseline", without.reads_s, "reads/s without a backup"},
          {"writes_per_s", during.writes_s, "writes/s (2 writers)"},
          {"writes_per_s_baseline", without.writes_s, "writes/s without a backup"},
          {"write_ratio", during.writes_s / without.writes_s, "during/without"},
          {"write_p99_ms", during.p99, "ms"},
          {"write_p99_ms_baseline", without.p99, "ms"},
          {"longest_write_ms", during.max_ms, "ms, longest any writer waited"},
          {"longest_write_ms_baseline", without.max_ms, "ms"},
          {"longest_write_at_s", during.max_at_ms / 1000, "s after the backup started"},
          {"errors", during.errors + without.errors, ""},
          {"wal_max_bytes", during.wal, "B, largest -wal seen during the backup"},
          {"wal_max_bytes_baseline", without.wal, "B"}});
  Cleanup(root);
}

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
      r.mutable_collection()->set_namespace_("scale");
      r.mutable_collection()->set_name("c" + std::to_string(c));
      collector::BackupCollectionResponse resp;
      grpc::ClientContext ctx;
      if (!server.repo->BackupCollection(&ctx, r, &resp).ok()) std::exit(1);
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
        (void)std::system(
            ("kill -TERM " + p + "; while kill -0 " + p + " 2>/dev/null; do sleep 0.05; done")
                .c_str());
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

}  // namespace
}  // namespace backup::bench

int main(int argc, char** argv) {
  using namespace backup::bench;
  Settings s;
  std::string scenarios = "snapshot,files,queue,listing,availability,scale";
  std::string dir = s.dir.string();
  CLI::App app{"backup-bench: Collector Backup against sqlite3 and cp, side by side"};
  app.add_option("--scenarios", scenarios, "comma-separated")->capture_default_str();
  app.add_option("--gb", s.gb, "size of the large collection and file set, GiB")
      ->capture_default_str();
  app.add_option("--reps", s.reps, "repetitions per figure (medians)")->capture_default_str();
  app.add_option("--dir", dir, "where to put the data")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  s.dir = dir;
  spdlog::set_level(std::getenv("BENCH_LOG") ? spdlog::level::info : spdlog::level::warn);
  std::set<std::string> chosen;
  std::stringstream in(scenarios);
  for (std::string item; std::getline(in, item, ',');) chosen.insert(item);
  if (chosen.count("snapshot")) Snapshot(s);
  if (chosen.count("files")) Files(s);
  if (chosen.count("queue")) Queue(s);
  if (chosen.count("listing")) Listing(s);
  if (chosen.count("availability")) Availability(s);
  if (chosen.count("scale")) Scale(s);
  PrintTable();
  return 0;
}
