// Snapshot and files scenarios: our job and our copier against sqlite3 and cp -r.
#include <cstdio>
#include <random>

#include <grpcpp/grpcpp.h>

#include "common/fs.h"
#include "tests/bench/bench_server.h"
#include "tests/bench/bench_util.h"
#include "worker/file_tree.h"

namespace backup::bench {
namespace fs = std::filesystem;

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
      // The plain format (a database file): the snapshot itself, as sqlite3 makes it.
      auto resp = server.Backup("bench", size.name, false,
                                (server.layout->BackupsRoot() /
                                 ("plain-" + size.name + "-" + std::to_string(rep) + ".db"))
                                    .string());
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

namespace {

// `count` files of `bytes` random bytes under `src`, 20 folders, then flushed.
void WriteSourceFiles(const fs::path& src, int count, int64_t bytes) {
  std::mt19937_64 rng(7);
  std::string data(static_cast<size_t>(bytes), '\0');
  for (int i = 0; i < count; ++i) {
    for (auto& c : data) c = static_cast<char>(rng());
    fs::path p = src / ("d" + std::to_string(i % 20)) / ("f" + std::to_string(i));
    fs::create_directories(p.parent_path());
    FILE* f = std::fopen(p.c_str(), "wb");
    if (f == nullptr || std::fwrite(data.data(), 1, data.size(), f) != data.size()) {
      std::fprintf(stderr, "backup-bench: files: cannot write %s\n", p.c_str());
      std::exit(1);
    }
    std::fclose(f);
  }
  (void)std::system("sync");
}

}  // namespace

// 2. Files: the files phase (CopyTree, the code the job runs) against cp -r + sync.
// Seconds CopyTree (the code the job runs) takes to copy `src` into `dest`; a failure is
// logged and ends the benchmark.
double TimeCopyTree(const fs::path& src, const fs::path& dest, bool sync) {
  auto pinned = PinnedDir::Root(src);
  auto files = pinned ? ListFiles(*pinned) : Result<FileListing>(Fail(pinned.error()));
  JobContext ctx(Job{.id = "job-bench"}, Lease{});
  Skipped skipped;
  auto t = Clock::now();
  auto copied = files ? CopyTree(*pinned, files->files, dest, ctx, skipped, sync)
                      : Result<std::vector<ManifestEntry>>(Fail(files.error()));
  const double seconds = SecondsSince(t);
  if (!copied) {
    std::fprintf(stderr, "backup-bench: files: %s\n", copied.error().message().c_str());
    std::exit(1);
  }
  return seconds;
}

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
    WriteSourceFiles(src, shape.count, shape.bytes);
    std::vector<double> ours, base;
    for (int rep = 0; rep < s.reps; ++rep) {
      const std::string n = std::to_string(rep);
      auto baseline = [&] {
        base.push_back(TimeShell("cp -r '" + src.string() + "' '" + (root / ("cp" + n)).string() +
                                 "' && sync"));
      };
      if (rep % 2 == 0) baseline();
      ours.push_back(TimeCopyTree(src, root / ("ours" + n), /*sync=*/true));
      if (rep % 2 == 1) baseline();
    }
    // The same copies without the final flush: what our code costs in CPU and page cache,
    // apart from the disk (whose speed varies a lot on this VM).
    std::vector<double> ours_cached, base_cached;
    for (int rep = 0; rep < s.reps; ++rep) {
      const std::string n = "c" + std::to_string(rep);
      base_cached.push_back(
          TimeShell("cp -r '" + src.string() + "' '" + (root / ("cp" + n)).string() + "'"));
      ours_cached.push_back(TimeCopyTree(src, root / ("ours" + n), /*sync=*/false));
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

}  // namespace backup::bench
