// 10. The control stores side by side in one run: SQLite under the data root and
// PostgreSQL 15 (a cluster this bench starts in /tmp, fsync on, on loopback TCP).
//   - durable enqueues/s through backupd's BackupCollection, 1, 8 and 32 clients;
//   - claims/s straight on the store: 32 claimers (8 processes' worth of store handles,
//     4 threads each), every claim followed by the job's end, as a worker's cycle, for at
//     most 20 s (SQLite's busy handler starves claimers under this contention): the 4,000
//     jobs on one collection, over 100 collections, and (PostgreSQL) over 100 collections
//     on 4 nodes with 2 handles per node (a fleet: each claims only its node's jobs);
//   - submit -> RUNNING on an idle worker (2 threads in backupd), p50/p99;
//   - ListBackups p50/p99 through backupd at 1,000,000 backups (pages of 100).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "control/postgres/postgres_control_store.h"
#include "control/sqlite/sqlite_control_store.h"
#include "tests/bench/bench_server.h"
#include "tests/bench/bench_util.h"
#include "tests/pg_cluster.h"

namespace backup::bench {
namespace fs = std::filesystem;
namespace {

constexpr int kClaimJobs = 4'000;
constexpr int kListingRows = 1'000'000;

struct Target {
  std::string label;  // "sqlite" or "postgres"
  // The --control of a fresh control database for `what` ("" for SQLite under the data
  // root, a new database on the bench's cluster for PostgreSQL).
  std::function<std::string(const std::string& what)> database;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "backup-bench: control: %s\n", what.c_str());
  std::exit(1);
}

// A store handle as a process on `node` would open it.
std::unique_ptr<ControlStore> OpenStore(const std::string& control, const fs::path& data,
                                        const std::string& node = "") {
  if (control.empty()) {
    auto store = SqliteControlStore::Open({.path = (data / "control.db").string(), .node = node});
    if (!store) Die(store.error().message());
    return std::move(*store);
  }
  auto store = PostgresControlStore::Open({.conninfo = control, .node = node});
  if (!store) Die(store.error().message());
  return std::move(*store);
}

void Enqueues(const Settings& s, const Target& t) {
  const fs::path root = FreshDir(s, "control-enqueue");
  {
    Server server(root / "data", 0, {}, t.database("enqueue"));
    server.Collection("bench", "tiny", 10, 10);
    for (int clients : {1, 8, 32}) {
      const int per_client = clients == 1 ? 300 : 1200 / clients;
      std::atomic<int64_t> errors{0};
      auto start = Clock::now();
      std::vector<std::thread> threads;
      threads.reserve(static_cast<size_t>(clients));
      for (int c = 0; c < clients; ++c) {
        threads.emplace_back(EnqueueFrom, "control enqueue", server.server->port(), c, per_client,
                             std::ref(errors));
      }
      for (auto& th : threads) th.join();
      Report(t.label + " enqueue " + std::to_string(clients) + " clients",
             {{"jobs_per_s", clients * per_client / SecondsSince(start), "durable enqueues/s"},
              {"errors", static_cast<double>(errors.load()), ""}});
    }
  }
  Cleanup(root);
}

// How the claim jobs are laid out: over how many collections, on how many nodes (0: none).
struct ClaimLayout {
  int collections = 1;
  int nodes = 0;
  std::string Label() const {
    return std::to_string(collections) + (collections == 1 ? " collection" : " collections") +
           (nodes > 0 ? " on " + std::to_string(nodes) + " nodes" : "");
  }
  CollectionName Collection(int i) const {
    return {"bench", "c" + std::to_string(i % collections)};
  }
  std::string NodeOf(int i) const {
    return nodes > 0 ? "n" + std::to_string(i % collections % nodes) : "";
  }
};

// Handle `h` of `n` queues its share of kClaimJobs backups, job i of collection i % collections.
void SubmitShare(ControlStore& store, int h, int n, const ClaimLayout& layout,
                 std::atomic<int64_t>& errors) {
  for (int i = h; i < kClaimJobs; i += n) {
    const std::string id = std::to_string(i);
    const int64_t now = store.clock().NowMs();
    Job job{.id = "job-" + id,
            .collection = layout.Collection(i),
            .backup_id = "backup-" + id,
            .created_at_ms = now,
            .node = layout.NodeOf(i)};
    BackupRecord b{.id = "backup-" + id,
                   .collection = layout.Collection(i),
                   .timestamp = now / 1000,
                   .created_at_ms = now,
                   .storage_path = "/b/" + id,
                   .job_id = job.id};
    if (auto e = store.EnqueueBackup(job, b); !e) {
      LogError("control claims setup", e.error().message(), errors);
    }
  }
}

// kClaimJobs backups queued by one thread per handle (not measured).
void QueueClaimJobs(const std::vector<std::unique_ptr<ControlStore>>& handles,
                    const ClaimLayout& layout, std::atomic<int64_t>& errors) {
  const int n = static_cast<int>(handles.size());
  std::vector<std::thread> threads;
  threads.reserve(handles.size());
  for (int h = 0; h < n; ++h) {
    threads.emplace_back(SubmitShare, std::ref(*handles[static_cast<size_t>(h)]), h, n,
                         std::cref(layout), std::ref(errors));
  }
  for (auto& th : threads) th.join();
}

// One claimer: claims a job and ends it, until every job is done or 20 s have passed.
void ClaimUntilDone(ControlStore& store, const std::string& owner, std::atomic<int>& done,
                    Clock::time_point start, std::atomic<int64_t>& errors) {
  while (done.load() < kClaimJobs && SecondsSince(start) < 20) {
    auto jobs = store.Claim(owner, 1, 60'000);
    if (!jobs) LogError("control claims", jobs.error().message(), errors);
    if (!jobs || jobs->empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    const Job& j = jobs->front();
    if (auto f = store.FinishJob({j.id, owner, j.attempt}, JobState::kFailed,
                                 Error::Internal("bench ends it"));
        !f) {
      LogError("control claims", f.error().message(), errors);
    }
    ++done;
  }
}

void Claims(const Settings& s, const Target& t, const ClaimLayout& layout) {
  const fs::path root = FreshDir(s, "control-claims");
  const fs::path data = root / "data";
  fs::create_directories(data);
  const std::string control = t.database("claims" + std::to_string(layout.collections) + "n" +
                                         std::to_string(layout.nodes));
  constexpr int kHandles = 8, kThreadsEach = 4;
  std::vector<std::unique_ptr<ControlStore>> handles;
  handles.reserve(kHandles);
  for (int h = 0; h < kHandles; ++h) handles.push_back(OpenStore(control, data, layout.NodeOf(h)));
  for (int c = 0; c < layout.collections; ++c) {
    if (!handles[0]->CreateCollection({.name = layout.Collection(c),
                                       .db_path = "x",
                                       .files_path = "y",
                                       .node = layout.NodeOf(c)})) {
      Die("create collection");
    }
  }
  std::atomic<int64_t> errors{0};
  QueueClaimJobs(handles, layout, errors);
  std::atomic<int> done{0};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(kHandles) * kThreadsEach);
  for (int h = 0; h < kHandles; ++h) {
    for (int k = 0; k < kThreadsEach; ++k) {
      threads.emplace_back(ClaimUntilDone, std::ref(*handles[static_cast<size_t>(h)]),
                           "w" + std::to_string(h) + "." + std::to_string(k), std::ref(done), start,
                           std::ref(errors));
    }
  }
  for (auto& th : threads) th.join();
  Report(t.label + " claim+end, 32 claimers, " + layout.Label(),
         {{"claims_per_s", done.load() / SecondsSince(start), "claims/s"},
          {"claimed", static_cast<double>(done.load()), "of 4,000"},
          {"errors", static_cast<double>(errors.load()), ""}});
  handles.clear();
  Cleanup(root);
}

void Latency(const Settings& s, const Target& t) {
  const fs::path root = FreshDir(s, "control-latency");
  {
    Server server(root / "data", 2, {}, t.database("latency"));
    server.Collection("bench", "tiny", 10, 10);
    std::vector<double> latency;
    for (int i = 0; i < 200; ++i) {
      auto resp = server.Backup("bench", "tiny", false);
      latency.push_back(
          static_cast<double>(resp.job().started_at_ms() - resp.job().created_at_ms()));
    }
    Report(t.label + " submit->RUNNING (idle)",
           {{"p50_ms", Percentile(latency, 50), "ms"}, {"p99_ms", Percentile(latency, 99), "ms"}});
  }
  Cleanup(root);
}

// kListingRows COMPLETED backups over 10 collections, written straight into the tables.
void SeedBackups(const std::string& control, const fs::path& data) {
  constexpr std::string_view kColumns =
      "backup_id, collection_namespace, collection_name, timestamp, size_bytes, record_count, "
      "file_count, includes_files, storage_path, storage_type, metadata, created_at, state, "
      "job_id, created_at_ms";
  if (control.empty()) {
    auto db = sql::Database::Open((data / "control.db").string(), {});
    if (!db) Die(db.error().message());
    const std::string sql =
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < " +
        std::to_string(kListingRows - 1) + ") INSERT INTO backups (" + std::string(kColumns) +
        ") SELECT 'backup-' || (1000000 + i), 'ns' || ((i % 10) % 3), 'c' || (i % 10), "
        "1700000000 + i, 1, 1, 0, 0, '/b/' || i, 'local', '{\"k\":\"v\"}', 1700000000 + i, "
        "'COMPLETED', 'job-' || i, (1700000000 + i) * 1000 FROM n; ANALYZE;";
    if (auto e = db->Exec(sql); !e) Die(e.error().message());
    return;
  }
  auto c = pg::Connection::Open(control);
  if (!c) Die(c.error().message());
  const std::string sql =
      "INSERT INTO backups (" + std::string(kColumns) +
      ") SELECT 'backup-' || (1000000 + i), 'ns' || ((i % 10) % 3), 'c' || (i % 10), "
      "1700000000 + i, 1, 1, 0, false, '/b/' || i, 'local', '{\"k\":\"v\"}', 1700000000 + i, "
      "'COMPLETED', 'job-' || i, (1700000000 + i)::bigint * 1000 FROM generate_series(0, " +
      std::to_string(kListingRows - 1) + ") AS i; ANALYZE;";
  if (auto e = c->Exec(sql); !e) Die(e.error().message());
}

void Listing(const Settings& s, const Target& t) {
  const fs::path root = FreshDir(s, "control-listing");
  const fs::path data = root / "data";
  const std::string control = t.database("listing");
  {
    Server server(data, 0, {}, control);
    for (int c = 0; c < 10; ++c) {
      server.Collection("ns" + std::to_string(c % 3), "c" + std::to_string(c), 1, 1);
    }
  }
  auto seeded = Clock::now();
  SeedBackups(control, data);
  std::printf("%s: %d backups seeded in %.1f s\n", t.label.c_str(), kListingRows,
              SecondsSince(seeded));
  Server server(data, 0, {}, control);
  auto time_calls = [&](const std::string& label,
                        const std::function<void(collector::ListBackupsRequest&)>& fill) {
    std::vector<double> ms;
    for (int i = 0; i < 200; ++i) {
      collector::ListBackupsRequest r;
      r.set_limit(100);
      fill(r);
      collector::ListBackupsResponse resp;
      grpc::ClientContext ctx;
      auto start = Clock::now();
      auto status = server.repo->ListBackups(&ctx, r, &resp);
      ms.push_back(SecondsSince(start) * 1000);
      if (!status.ok() || resp.backups_size() == 0) {
        Die("ListBackups " + label + ": " +
            (status.ok() ? "listed nothing" : status.error_message()));
      }
    }
    Report(t.label + " ListBackups at 1M, " + label,
           {{"p50_ms", Percentile(ms, 50), "ms"}, {"p99_ms", Percentile(ms, 99), "ms"}});
  };
  time_calls("no filter", [](auto&) {});
  time_calls("collection", [](auto& r) {
    r.mutable_collection()->set_namespace_("ns1");
    r.mutable_collection()->set_name("c4");
  });
  time_calls("namespace", [](auto& r) { r.set_namespace_("ns2"); });
  Cleanup(root);
}

}  // namespace

void ControlStores(const Settings& s) {
  auto cluster = testing::PgCluster::Start(/*adopt=*/false);
  if (!cluster) Die(cluster.error().message());
  int databases = 0;
  auto fresh = [&](const std::string& what) {
    const std::string name = "bench_" + what + "_" + std::to_string(++databases);
    if (auto made = (*cluster)->EnsureDatabase(name); !made) Die(made.error().message());
    return (*cluster)->ConnInfo(name);
  };
  const std::vector<Target> targets = {
      {"sqlite", [](const std::string&) { return std::string(); }},
      {"postgres", fresh},
  };
  for (const Target& t : targets) {
    Enqueues(s, t);
    Claims(s, t, {.collections = 1});
    Claims(s, t, {.collections = 100});
    if (t.label == "postgres") Claims(s, t, {.collections = 100, .nodes = 4});
    Latency(s, t);
    Listing(s, t);
  }
}

}  // namespace backup::bench
