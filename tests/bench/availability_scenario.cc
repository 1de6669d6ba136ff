// Availability: readers and writers on a live collection, with and without a backup.
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <random>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "common/sqlite.h"
#include "tests/bench/bench_server.h"
#include "tests/bench/bench_util.h"

namespace backup::bench {
namespace fs = std::filesystem;
namespace {

// 6. Availability: 8 readers and 2 writers on the collection, with and without a backup.
struct Load {
  std::atomic<int64_t> reads{0}, writes{0}, errors{0}, max_write_us{0}, max_wal{0};
  std::atomic<int64_t> max_write_at_ms{0};  // when the longest write started, from the load's start
  Clock::time_point start = Clock::now();
  std::vector<double> write_ms;  // guarded by mu
  std::mutex mu;
};

// Keeps the longest write seen (and when it started) in `load`.
void RecordWrite(Load& load, Clock::time_point started, double ms) {
  int64_t us = static_cast<int64_t>(ms * 1000);
  int64_t prev = load.max_write_us;
  while (us > prev && !load.max_write_us.compare_exchange_weak(prev, us)) {
  }
  if (us >= load.max_write_us) {
    load.max_write_at_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(started - load.start).count();
  }
  ++load.writes;
}

// One application connection: a writer (INSERT OR REPLACE) or a reader (point SELECT) of
// random records until `stop`. Every failed statement is logged.
void LoadThread(const fs::path& db_path, int64_t rows, const std::atomic<bool>& stop, Load& load,
                int index, bool writer) {
  auto db = sql::Database::Open(db_path.string(), {.busy_timeout_ms = 5000});
  if (!db) {
    LogError("availability", db.error().message(), load.errors);
    return;
  }
  (void)db->Exec(std::getenv("BENCH_NO_AUTOCKPT")
                     ? "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0"
                     : "PRAGMA synchronous=NORMAL");  // what a WAL application sets
  std::mt19937_64 rng(static_cast<uint64_t>(index));
  auto stmt = db->Prepare(
      writer ? "INSERT OR REPLACE INTO records (id, proto_data) VALUES (?1, randomblob(1000))"
             : "SELECT length(proto_data) FROM records WHERE id = ?1");
  std::vector<double> local;
  while (!stop) {
    char id[24];
    const uint64_t row = rng() % static_cast<uint64_t>(rows) + 1;
    std::snprintf(id, sizeof id, "r%010llu", static_cast<unsigned long long>(row));
    auto t0 = Clock::now();
    auto ran = stmt->Bind({std::string_view(id)}).Run();
    stmt->Reset();
    if (!ran) {
      LogError("availability", ran.error().message(), load.errors);
    } else if (writer) {
      const double ms = SecondsSince(t0) * 1000;
      local.push_back(ms);
      RecordWrite(load, t0, ms);
    } else {
      ++load.reads;
    }
  }
  std::lock_guard lock(load.mu);
  load.write_ms.insert(load.write_ms.end(), local.begin(), local.end());
}

// 2 writers and 8 readers, plus a thread that records the largest -wal seen.
void RunLoad(const fs::path& db_path, int64_t rows, const std::atomic<bool>& stop, Load& load) {
  constexpr int kThreads = 10, kWriters = 2;
  std::vector<std::thread> threads;
  threads.reserve(kThreads + 1);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back(LoadThread, std::cref(db_path), rows, std::cref(stop), std::ref(load), t,
                         t < kWriters);
  }
  threads.emplace_back([&] {
    const std::string wal = db_path.string() + "-wal";
    while (!stop) {
      struct stat st {};
      if (::stat(wal.c_str(), &st) == 0 && st.st_size > load.max_wal) load.max_wal = st.st_size;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  for (auto& th : threads) th.join();
}

}  // namespace

void Availability(const Settings& s) {
  fs::path root = FreshDir(s, "availability");
  StoreSetOptions stores;  // BENCH_FORMAT=chunked: the backup is a chunked one (page snapshot)
  if (const char* format = std::getenv("BENCH_FORMAT")) stores.format = format;
  if (const char* snapshot = std::getenv("BENCH_SNAPSHOT")) stores.snapshot = snapshot;
  Server server(root / "data", 2, stores);
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
  Report("availability during backup (" + stores.format + ", " + stores.snapshot + ")",
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

}  // namespace backup::bench
