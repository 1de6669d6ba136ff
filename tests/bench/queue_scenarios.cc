// Queue and listing scenarios: enqueue throughput, submit->RUNNING latency, listing at
// 100,000 rows.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "common/sqlite.h"
#include "tests/bench/bench_server.h"
#include "tests/bench/bench_util.h"

namespace backup::bench {
namespace fs = std::filesystem;

namespace {

// 100,000 backups and jobs over 10 collections, written straight into the control database.
void SeedListing(const fs::path& data) {
  auto db = sql::Database::Open((data / "control.db").string(), {});
  (void)db->Exec("BEGIN");
  auto job = db->Prepare(
      "INSERT INTO jobs (job_id, kind, state, collection_namespace, collection_name, backup_id, "
      "max_attempts, run_after, created_at, updated_at, finished_at) VALUES (?1, 'BACKUP', ?2, "
      "?3, ?4, ?5, 3, 0, ?6, ?6, ?6)");
  auto backup = db->Prepare(
      "INSERT INTO backups (backup_id, collection_namespace, collection_name, timestamp, "
      "size_bytes, record_count, file_count, includes_files, storage_path, storage_type, "
      "metadata, created_at, state, job_id, created_at_ms) VALUES (?1, ?2, ?3, ?4, 1, 1, 0, 0, "
      "?5, 'local', '{\"k\":\"v\"}', ?4, 'COMPLETED', ?6, ?7)");
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

// A listing call must succeed and list something; otherwise its timing means nothing.
void RequireListed(const char* call, const grpc::Status& status, int listed) {
  if (status.ok() && listed > 0) return;
  std::fprintf(stderr, "backup-bench: listing: %s: %s\n", call,
               status.ok() ? "listed nothing" : status.error_message().c_str());
  std::exit(1);
}

}  // namespace

// One client on its own connection: `count` backups of bench/tiny, each failure logged.
void EnqueueFrom(const std::string& scenario, int port, int client, int count,
                 std::atomic<int64_t>& errors) {
  grpc::ChannelArguments args;
  args.SetInt("bench.client", client);  // distinct arguments: one connection per client
  auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                           grpc::InsecureChannelCredentials(), args);
  auto repo = collector::CollectionRepo::NewStub(channel);
  for (int i = 0; i < count; ++i) {
    collector::BackupCollectionRequest r;
    r.set_wait(false);
    r.mutable_collection()->set_namespace_("bench");
    r.mutable_collection()->set_name("tiny");
    collector::BackupCollectionResponse resp;
    grpc::ClientContext ctx;
    if (auto s = repo->BackupCollection(&ctx, r, &resp); !s.ok()) {
      LogError(scenario, s.error_message(), errors);
    }
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
      std::atomic<int64_t> errors{0};
      auto t = Clock::now();
      std::vector<std::thread> threads;
      threads.reserve(static_cast<size_t>(clients));
      for (int c = 0; c < clients; ++c) {
        threads.emplace_back(EnqueueFrom, "queue", server.server->port(), c, per_client,
                             std::ref(errors));
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
  SeedListing(data);
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
      auto status = server.repo->ListBackups(&ctx, r, &resp);
      RequireListed("ListBackups", status, resp.backups_size());
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
      auto status = server.jobs->ListJobs(&ctx, r, &resp);
      RequireListed("ListJobs", status, resp.jobs_size());
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

}  // namespace backup::bench
