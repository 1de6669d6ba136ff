// Off-site scenario: backups to S3 (s3rver on loopback, started here) against curl moving
// the same bytes to and from the same server; zstd's ratio and speed by level; what
// sealing costs; the local store compressed against the plain snapshot.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "common/sqlite.h"
#include "storage/codec.h"
#include "tests/bench/bench_server.h"
#include "tests/bench/bench_util.h"
#include "tests/loopback.h"

extern char** environ;

namespace backup::bench {
namespace fs = std::filesystem;

namespace {

// The running s3rver, killed at exit too: a failed setup ends the bench with std::exit.
pid_t g_s3rver = -1;
void KillS3rver() {
  if (g_s3rver > 0) ::kill(g_s3rver, SIGKILL);
}

// s3rver on a loopback port with its own folder, killed at destruction.
struct S3rver {
  explicit S3rver(const fs::path& dir) : port(testing::FreeLoopbackPort()) {
    if (port < 0) {
      std::fprintf(stderr, "backup-bench: offsite: no free loopback port\n");
      std::exit(1);
    }
    fs::create_directories(dir);
    const std::string p = std::to_string(port), d = dir.string();
    std::vector<std::string> argv{S3RVER_PATH,          "-d",   d, "-a",
                                  "127.0.0.1",          "-p",   p, "--silent",
                                  "--configure-bucket", "bench"};
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    if (posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) {
      std::fprintf(stderr, "backup-bench: offsite: cannot start %s (scripts/install-deps.sh)\n",
                   S3RVER_PATH);
      std::exit(1);
    }
    g_s3rver = pid;
    std::atexit(KillS3rver);
    for (int i = 0; i < 300; ++i) {
      if (testing::AcceptsOnLoopback(port)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::fprintf(stderr, "backup-bench: offsite: s3rver did not start\n");
    std::exit(1);
  }
  ~S3rver() {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    g_s3rver = -1;
  }
  std::string Endpoint() const { return "http://127.0.0.1:" + std::to_string(port); }
  int port;
  pid_t pid = -1;
};

// Peak RSS of this process (backupd runs in it) since the last ResetPeakRss(), in MB.
void ResetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }
double StatusMb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stod(line.substr(field.size())) / 1024;
  }
  return 0;
}
double PeakRssMb() { return StatusMb("VmHWM:"); }
double RssMb() { return StatusMb("VmRSS:"); }

// A signed curl command of `args`, followed by the URL of `path` on `s3`.
std::string Curl(const S3rver& s3, const std::string& args, const std::string& path) {
  return "curl -sSf --aws-sigv4 aws:amz:us-east-1:s3 --user S3RVER:S3RVER "
         "-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' " +
         args + " " + s3.Endpoint() + path;
}

// Text-like records: JSON with names, numbers and a hex note (about 2:1 for zstd).
std::string TextSample(size_t bytes) {
  std::mt19937_64 rng(3);
  std::string s;
  static constexpr char kHex[] = "0123456789abcdef";
  for (int64_t i = 0; s.size() < bytes; ++i) {
    s += "{\"id\":" + std::to_string(i) + ",\"name\":\"user-" + std::to_string(rng() % 50'000) +
         "\",\"email\":\"user" + std::to_string(rng() % 50'000) +
         "@example.com\",\"score\":" + std::to_string(rng() % 1000) + ",\"note\":\"";
    for (int k = 0; k < 24; ++k) s += kHex[rng() % 16];
    s += "\"}\n";
  }
  s.resize(bytes);
  return s;
}

std::string RandomSample(size_t bytes) {
  std::mt19937_64 rng(5);
  std::string s(bytes, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// Seconds to encode `plain` (and the stored size), then seconds to decode it back.
struct CodecRun {
  double encode_s = 0, decode_s = 0;
  size_t stored = 0;
};
CodecRun RunCodec(const std::string& plain, Compression c, const EncryptionKey* key,
                  const KeyRing& ring) {
  CodecRun run;
  std::string stored;
  stored.reserve(plain.size() + (1 << 20));
  auto t = Clock::now();
  auto enc = Encoder::Create(c, key, [&](std::string_view b) -> Status {
    stored.append(b);
    return {};
  });
  for (size_t at = 0; at < plain.size(); at += 1 << 20) {
    if (!(*enc)->Write(std::string_view(plain).substr(at, 1 << 20))) std::exit(1);
  }
  if (!(*enc)->Finish()) std::exit(1);
  run.encode_s = SecondsSince(t);
  run.stored = stored.size();
  size_t out = 0;
  t = Clock::now();
  auto dec = Decoder::Create(c.Name(), key ? key->id : "", ring, int64_t{1} << 40,
                             [&](std::string_view b) -> Status {
                               out += b.size();
                               return {};
                             });
  for (size_t at = 0; at < stored.size(); at += 1 << 20) {
    if (auto fed = (*dec)->Feed(std::string_view(stored).substr(at, 1 << 20)); !fed) {
      std::fprintf(stderr, "backup-bench: offsite: decode: %s\n", fed.error().message().c_str());
      std::exit(1);
    }
  }
  Status finished = (*dec)->Finish();
  if (!finished || out != plain.size()) {
    std::fprintf(stderr, "backup-bench: offsite: codec round trip failed (%zu of %zu bytes): %s\n",
                 out, plain.size(), finished ? "" : finished.error().message().c_str());
    std::exit(1);
  }
  run.decode_s = SecondsSince(t);
  return run;
}

void CodecFigures(const Settings& s) {
  const KeyRing ring(KeyFromBytes("0123456789abcdef0123456789abcdef"), {});
  const size_t mb = 64;
  const std::string text = TextSample(mb << 20), random = RandomSample(mb << 20);
  for (int level : {1, 3, 9, 19}) {
    for (const auto* whole : {&text, &random}) {
      // zstd:19 runs at about 1 MB/s: a sixteenth of the sample.
      const std::string data = level == 19 ? whole->substr(0, whole->size() / 16) : *whole;
      const double data_mb = static_cast<double>(data.size()) / (1 << 20);
      std::vector<double> enc, dec;
      CodecRun run;
      for (int rep = 0; rep < s.reps; ++rep) {
        run = RunCodec(data, Compression{level, 0}, nullptr, ring);  // one core
        enc.push_back(run.encode_s);
        dec.push_back(run.decode_s);
      }
      Report("zstd:" + std::to_string(level) + (whole == &text ? " text" : " random"),
             {{"ratio", static_cast<double>(data.size()) / static_cast<double>(run.stored),
               "plain/stored"},
              {"compress_MiBps", data_mb / Median(enc), "MiB/s (one core)"},
              {"decompress_MiBps", data_mb / Median(dec), "MiB/s"}});
    }
  }
  for (int level : {0, 3}) {
    std::vector<double> plain_s, sealed_s, open_plain_s, open_sealed_s;
    for (int rep = 0; rep < s.reps; ++rep) {
      auto a = RunCodec(text, Compression{level, 0}, nullptr, ring);
      auto b = RunCodec(text, Compression{level, 0}, &*ring.current(), ring);
      plain_s.push_back(a.encode_s);
      sealed_s.push_back(b.encode_s);
      open_plain_s.push_back(a.decode_s);
      open_sealed_s.push_back(b.decode_s);
    }
    std::vector<Figure> figures{
        {"seal_MiBps", static_cast<double>(mb) / Median(sealed_s), "MiB/s (one core)"},
        {"open_MiBps", static_cast<double>(mb) / Median(open_sealed_s), "MiB/s (one core)"}};
    if (level > 0) {  // without compression the unsealed pipeline is a copy: no ratio
      figures.push_back(
          {"encode_overhead", Median(sealed_s) / Median(plain_s) - 1, "sealed/unsealed - 1"});
      figures.push_back({"decode_overhead", Median(open_sealed_s) / Median(open_plain_s) - 1,
                         "sealed/unsealed - 1"});
    }
    Report(std::string("sealing, ") + (level ? "zstd:3" : "no compression") + " text", figures);
  }
}

void FillText(Server& server, const std::string& name, int64_t rows) {
  server.Collection("bench", name, 0, 0);
  auto db = sql::Database::Open(server.layout->CollectionDb({"bench", name}).string(), {});
  Status filled =
      db ? db->Run(
               "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) "
               "INSERT INTO records (id, proto_data, labels) SELECT printf('r%010d', i), "
               "printf('{\"name\":\"user-%d\",\"email\":\"user%d@example.com\",\"score\":%d,"
               "\"note\":\"%s\"}', i, abs(random() % 50000), abs(random() % 1000), "
               "hex(randomblob(200))), '{\"i\":' || i || '}' FROM n",
               {rows})
         : Status(Fail(db.error()));
  if (!filled) {
    std::fprintf(stderr, "backup-bench: offsite: fill: %s\n", filled.error().message().c_str());
    std::exit(1);
  }
}

collector::RestoreBackupResponse RestoreInto(Server& server, const std::string& id,
                                             const std::string& name) {
  collector::RestoreBackupRequest r;
  r.set_backup_id(id);
  r.set_dest_namespace("bench");
  r.set_dest_name(name);
  r.set_wait(true);
  collector::RestoreBackupResponse resp;
  grpc::ClientContext ctx;
  auto status = server.repo->RestoreBackup(&ctx, r, &resp);
  if (!status.ok()) {
    std::fprintf(stderr, "backup-bench: offsite: restore: %s\n", status.error_message().c_str());
    std::exit(1);
  }
  return resp;
}

// What each repetition of the S3 figures measured.
struct S3Runs {
  std::vector<double> backup_s, put_s, multipart_s, vacuum_s, same_work_s, restore_s, get_s;
  std::vector<double> backup_rss, restore_rss;
  double object_bytes = 0;

  void ReportAll() const {
    std::vector<Figure> backup{{"bytes", object_bytes, "B (the archive)"}};
    for (const auto& figures :
         {Spread("ours_s", backup_s, "s (job: snapshot, archive, upload, HEAD)"),
          Spread("curl_put_s", put_s, "s (curl -T, one PUT)"),
          Spread("curl_multipart_s", multipart_s, "s (curl, 8 MiB parts, 4 at once)"),
          Spread("vacuum_s", vacuum_s, "s (sqlite3 VACUUM INTO)"),
          Spread("same_work_s", same_work_s, "s (VACUUM INTO + curl multipart)")}) {
      backup.insert(backup.end(), figures.begin(), figures.end());
    }
    backup.push_back({"vs_curl_put", Median(put_s) / Median(backup_s), "ours/curl MB/s"});
    backup.push_back({"vs_same_work", Median(same_work_s) / Median(backup_s), "ours/same MB/s"});
    backup.push_back(
        {"peak_rss_MB", *std::max_element(backup_rss.begin(), backup_rss.end()), "MB"});
    Report("s3 backup", backup);
    std::vector<Figure> restore =
        Spread("ours_s", restore_s, "s (job: download, unpack, check, swap)");
    for (const Figure& f : Spread("curl_get_s", get_s, "s (curl -o + sync)")) restore.push_back(f);
    restore.push_back({"vs_curl_get", Median(get_s) / Median(restore_s), "ours/curl MB/s"});
    restore.push_back(
        {"peak_rss_MB", *std::max_element(restore_rss.begin(), restore_rss.end()), "MB"});
    Report("s3 restore", restore);
  }
};

// The same bytes with curl: one PUT, and the multipart protocol our store speaks (8 MiB
// parts, 4 at once); the same work: sqlite3's snapshot, then that multipart upload.
void CurlUploads(const S3rver& s3, const fs::path& object, const fs::path& src,
                 const fs::path& root, const std::string& n, S3Runs& runs) {
  const std::string multipart = std::string(CURL_MULTIPART_PATH) + " " + s3.Endpoint() + " bench ";
  runs.put_s.push_back(
      TimeShell(Curl(s3, "-o /dev/null -T '" + object.string() + "'", "/bench/curl-" + n)));
  runs.multipart_s.push_back(
      TimeShell(multipart + "curl-mp-" + n + " '" + object.string() + "' 8 4"));
  const fs::path vac = root / ("vacuum-" + n + ".db");
  runs.vacuum_s.push_back(
      TimeShell("sqlite3 '" + src.string() + "' \"VACUUM INTO '" + vac.string() + "'\""));
  runs.same_work_s.push_back(runs.vacuum_s.back() +
                             TimeShell(multipart + "vacuum-" + n + " '" + vac.string() + "' 8 4"));
  fs::remove(vac);
}

// A 1 GB collection backed up to S3 and restored, against curl. BENCH_S3_QUERY adds settings
// to the store's URL (e.g. "part_size_mb=64&parts_in_flight=2").
void S3Figures(const Settings& s, const fs::path& root) {
  S3rver s3(root / "s3rver");
  ::setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
  StoreSetOptions stores;
  const char* query = std::getenv("BENCH_S3_QUERY");
  stores.stores = {"s3=s3://bench/b?endpoint=" + s3.Endpoint() +
                   (query ? std::string("&") + query : std::string())};
  stores.compression = "none";  // the same bytes as curl moves: random rows do not compress
  Server server(root / "data", 2, stores);
  const int64_t rows = static_cast<int64_t>(s.gb * 1024 * 1024 * 1024 / 1100);
  server.Collection("bench", "big", rows, 1000);
  const fs::path src = server.layout->CollectionDb({"bench", "big"});
  (void)std::system("sync");

  S3Runs runs;
  for (int rep = 0; rep < s.reps; ++rep) {
    const std::string n = std::to_string(rep);
    ResetPeakRss();
    auto t = Clock::now();
    auto resp = server.Backup("bench", "big", false, "", "s3");
    runs.backup_s.push_back(SecondsSince(t));
    runs.backup_rss.push_back(PeakRssMb());
    const auto& b = resp.backup();
    runs.object_bytes = static_cast<double>(b.stored_bytes());
    CurlUploads(s3,
                root / "s3rver" / "bench" / "b" / "backups" / "bench" / "big" /
                    (fs::path(b.storage_path()).filename().string() + "._S3rver_object"),
                src, root, n, runs);
    ResetPeakRss();
    t = Clock::now();
    RestoreInto(server, b.backup_id(), "restored-" + n);
    runs.restore_s.push_back(SecondsSince(t));
    runs.restore_rss.push_back(PeakRssMb());
    const fs::path got = root / ("curl-get-" + n);
    runs.get_s.push_back(
        TimeShell(Curl(s3, "-o '" + got.string() + "'", "/bench/curl-" + n) + " && sync"));
    fs::remove(got);
  }
  runs.ReportAll();
}

// The local store, zstd:3, against the plain snapshot, on text-like rows; then the same
// archive sealed (the whole pipeline with and without encryption). One server without a
// key and one with it take turns on the same data, so each repetition measures all three.
void LocalFigures(const Settings& s, const fs::path& local_root) {
  const int64_t rows = static_cast<int64_t>(s.gb * 1024 * 1024 * 1024 / 1100);
  const fs::path data = local_root / "data";
  StoreSetOptions zstd;
  zstd.compression = "zstd:3";
  StoreSetOptions sealed = zstd;
  sealed.key_file = local_root / "bench.key";
  std::ofstream(*sealed.key_file) << std::string(64, '7') << "\n";
  fs::permissions(*sealed.key_file, fs::perms::owner_read | fs::perms::owner_write);
  {
    Server local(data, 2, zstd);
    FillText(local, "text", rows / 2);
  }
  (void)std::system("sync");
  std::vector<double> plain_s, archive_s, sealed_s;
  double plain_bytes = 0, archive_bytes = 0, sealed_bytes = 0;
  for (int rep = 0; rep < s.reps; ++rep) {
    const std::string n = std::to_string(rep);
    {
      Server local(data, 2, zstd);
      auto t = Clock::now();
      auto plain = local.Backup("bench", "text", false,
                                (local.layout->BackupsRoot() / ("plain-" + n + ".db")).string());
      plain_s.push_back(SecondsSince(t));
      plain_bytes = static_cast<double>(fs::file_size(plain.backup().storage_path()));
      t = Clock::now();
      auto archived = local.Backup("bench", "text", false);
      archive_s.push_back(SecondsSince(t));
      archive_bytes = static_cast<double>(archived.backup().stored_bytes());
    }
    Server local(data, 2, sealed);
    const auto t = Clock::now();
    auto archived = local.Backup("bench", "text", false);
    sealed_s.push_back(SecondsSince(t));
    sealed_bytes = static_cast<double>(archived.backup().stored_bytes());
  }
  std::vector<Figure> figures{{"plain_bytes", plain_bytes, "B"},
                              {"archive_bytes", archive_bytes, "B"},
                              {"sealed_bytes", sealed_bytes, "B"},
                              {"size_ratio", archive_bytes / plain_bytes, "archive/plain"}};
  for (const auto& spread : {Spread("plain_s", plain_s, "s (job: VACUUM INTO, hash, fsync)"),
                             Spread("archive_s", archive_s, "s (job: snapshot, tar.zst)"),
                             Spread("sealed_s", sealed_s, "s (job: snapshot, tar.zst, sealed)")}) {
    figures.insert(figures.end(), spread.begin(), spread.end());
  }
  figures.push_back({"time_ratio", Median(archive_s) / Median(plain_s), "archive/plain"});
  figures.push_back(
      {"seal_overhead", Median(sealed_s) / Median(archive_s) - 1, "sealed/archive - 1"});
  Report("local zstd:3 vs plain", figures);
}

}  // namespace

// Incremental (issue 13): chunked backups of a text-like collection, the first full, the
// next after 1 % of the rows changed and 0.5 % inserted, against a full backup and cp + sync
// in the same run; 24 "hourly" backups with 0.2 % changed each; the same after a VACUUM.
void Mutate(const fs::path& db_path, int64_t rows, double updated, double inserted) {
  auto db = sql::Database::Open(db_path.string(), {});
  auto u = static_cast<int64_t>(static_cast<double>(rows) * updated);
  auto n = static_cast<int64_t>(static_cast<double>(rows) * inserted);
  Status done =
      db ? db->Run(
               "UPDATE records SET proto_data = printf('{\"changed\":%d,\"note\":\"%s\"}', "
               "abs(random() % 1000), hex(randomblob(200))) WHERE rowid IN (SELECT rowid "
               "FROM records ORDER BY random() LIMIT ?1)",
               {u})
         : Status(Fail(db.error()));
  if (done) {
    done = db->Run(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) "
        "INSERT INTO records (id, proto_data, labels) SELECT 'x' || hex(randomblob(8)), "
        "printf('{\"new\":%d,\"note\":\"%s\"}', i, hex(randomblob(200))), '{}' FROM n",
        {n});
  }
  if (!done) {
    std::fprintf(stderr, "backup-bench: incremental: mutate: %s\n", done.error().message().c_str());
    std::exit(1);
  }
}

std::atomic<int64_t> g_incremental_errors{0};

void DeleteAll(Server& server, const std::string& store) {
  collector::ListBackupsRequest list;
  list.mutable_collection()->set_namespace_("bench");
  list.mutable_collection()->set_name("big");
  collector::ListBackupsResponse listed;
  grpc::ClientContext ctx;
  if (!server.repo->ListBackups(&ctx, list, &listed).ok()) return;
  for (const auto& b : listed.backups()) {
    if (b.store() != store) continue;
    collector::DeleteBackupRequest del;
    del.set_backup_id(b.backup_id());
    collector::DeleteBackupResponse resp;
    grpc::ClientContext c;
    auto status = server.repo->DeleteBackup(&c, del, &resp);
    if (!status.ok())
      LogError("incremental", "delete: " + status.error_message(), g_incremental_errors);
  }
}

// Each timed step below starts on memory the host backs (WarmMemory): 1.5 GB, more than
// any step writes.
constexpr int64_t kWarmBytes = int64_t{3} << 29;

// The figures of IncrementalFigures' repetitions, one value each.
struct IncrementalRuns {
  std::vector<double> cp_s, full_s, incr_s, full_mb, incr_mb, rfull_s, rincr_s, get_s, rss;
};

void ReportIncremental(const IncrementalRuns& r, const std::string& store,
                       const std::string& label) {
  const auto& [cp_s, full_s, incr_s, full_mb, incr_mb, rfull_s, rincr_s, get_s, rss] = r;
  std::vector<Figure> f{
      {"full_s", Median(full_s), "s, first (full) chunked backup"},
      {"cp_sync_s", Median(cp_s), "s, cp + sync of the database"},
      {"full_vs_cp", Median(full_s) / Median(cp_s), "ratio"},
      {"full_stored_MB", Median(full_mb), "MB"},
      {"incr_s", Median(incr_s), "s, after 1 % updated + 0.5 % inserted"},
      {"incr_stored_MB", Median(incr_mb), "MB"},
      {"incr_bytes_ratio", Median(incr_mb) / Median(full_mb), "incr / full stored"},
      {"incr_time_ratio", Median(incr_s) / Median(full_s), "incr / full time"},
      {"restore_full_s", Median(rfull_s), "s"},
      {"restore_incr_s", Median(rincr_s), "s"},
      {"incr_rss_growth_MB", Median(rss),
       "MB, peak RSS during the incremental backup above the RSS before it"}};
  for (auto& x : Spread("full_s", full_s, "s")) f.push_back(x);
  for (auto& x : Spread("incr_s", incr_s, "s")) f.push_back(x);
  for (auto& x : Spread("incr_stored_MB", incr_mb, "MB")) f.push_back(x);
  for (auto& x : Spread("cp_sync_s", cp_s, "s")) f.push_back(x);
  for (auto& x : Spread("restore_full_s", rfull_s, "s")) f.push_back(x);
  for (auto& x : Spread("restore_incr_s", rincr_s, "s")) f.push_back(x);
  if (!get_s.empty()) {
    for (auto& x : Spread("curl_get_s", get_s, "s")) f.push_back(x);
    f.push_back({"curl_get_s", Median(get_s), "s, one object of the database's size"});
    f.push_back({"restore_full_vs_get", Median(get_s) / Median(rfull_s), "speed ratio"});
  }
  Report("incremental, " + store + ", " + label, f);
}

// One store's figures: full, incremental after 1 % + 0.5 %, both restored; cp + sync and
// (S3) curl's GET of one object of the database's size as baselines.
void IncrementalFigures(const Settings& s, Server& server, const S3rver& s3, const fs::path& root,
                        int64_t rows, const std::string& store, const std::string& label) {
  const fs::path src = server.layout->CollectionDb({"bench", "big"});
  IncrementalRuns r;
  auto& [cp_s, full_s, incr_s, full_mb, incr_mb, rfull_s, rincr_s, get_s, rss] = r;
  auto timed = [&root](const auto& step) {
    WarmMemory(root, kWarmBytes);
    const auto t = Clock::now();
    step();
    return SecondsSince(t);
  };
  for (int rep = 0; rep < s.reps; ++rep) {
    const std::string n = store + std::to_string(rep);
    DeleteAll(server, store);
    (void)std::system("sync");  // each timing starts with no dirty pages of the last
    cp_s.push_back(timed([&] {
      TimeShell("cp '" + src.string() + "' '" + (root / "cp.db").string() + "' && sync");
    }));
    fs::remove(root / "cp.db");
    (void)std::system("sync");
    collector::BackupMetadata full, incr;
    full_s.push_back(
        timed([&] { full = server.Backup("bench", "big", false, "", store).backup(); }));
    full_mb.push_back(static_cast<double>(full.stored_bytes()) / 1e6);
    Mutate(src, rows, 0.01, 0.005);
    ResetPeakRss();
    const double rss_before = RssMb();
    incr_s.push_back(
        timed([&] { incr = server.Backup("bench", "big", false, "", store).backup(); }));
    rss.push_back(PeakRssMb() - rss_before);
    incr_mb.push_back(static_cast<double>(incr.stored_bytes()) / 1e6);
    rfull_s.push_back(timed([&] { RestoreInto(server, full.backup_id(), "rf-" + n); }));
    rincr_s.push_back(timed([&] { RestoreInto(server, incr.backup_id(), "ri-" + n); }));
    if (store == "s3") {
      get_s.push_back(timed([&] {
        TimeShell(Curl(s3, "-o '" + (root / "got").string() + "'", "/bench/single") + " && sync");
      }));
      fs::remove(root / "got");
    }
  }
  ReportIncremental(r, store, label);
}

// 24 "hourly" backups with 0.2 % changed each (local store), then one after a VACUUM of
// the source, then the oldest deleted.
void HourlyFigures(Server& server, int64_t rows) {
  const fs::path src = server.layout->CollectionDb({"bench", "big"});
  DeleteAll(server, "local");
  auto first = server.Backup("bench", "big", false, "", "local").backup();
  double total = static_cast<double>(first.stored_bytes());
  for (int h = 1; h < 24; ++h) {
    Mutate(src, rows, 0.002, 0.001);
    total += static_cast<double>(
        server.Backup("bench", "big", false, "", "local").backup().stored_bytes());
  }
  {
    auto db = sql::Database::Open(src.string(), {});
    if (!db || !db->Exec("VACUUM"))
      LogError("incremental", "VACUUM of the source failed", g_incremental_errors);
  }
  auto vacuumed = server.Backup("bench", "big", false, "", "local").backup();
  // Deleting the oldest of 25 backups: its manifest, then a sweep reading the 24 others'.
  collector::DeleteBackupRequest del;
  del.set_backup_id(first.backup_id());
  collector::DeleteBackupResponse deleted;
  grpc::ClientContext del_ctx;
  auto t = Clock::now();
  auto del_status = server.repo->DeleteBackup(&del_ctx, del, &deleted);
  const double delete_s = SecondsSince(t);
  if (!del_status.ok()) {
    LogError("incremental", "delete: " + del_status.error_message(), g_incremental_errors);
  }
  Report("incremental, 24 hourly (local)",
         {{"stored_24_MB", total / 1e6, "MB, 24 chunked backups"},
          {"full_24_MB", 24 * static_cast<double>(first.stored_bytes()) / 1e6, "MB, 24 full"},
          {"ratio", total / (24 * static_cast<double>(first.stored_bytes())), "chunked / full"},
          {"after_vacuum_ratio",
           static_cast<double>(vacuumed.stored_bytes()) / static_cast<double>(first.stored_bytes()),
           "stored after a VACUUM of the source / full"},
          {"delete_oldest_s", delete_s, "s, the sweep reads 24 manifests"},
          {"delete_freed_MB", static_cast<double>(deleted.bytes_freed()) / 1e6, "MB"},
          {"errors", static_cast<double>(g_incremental_errors.load()), "logged above"}});
}

// The snapshot alone at the speed of the disk: a full backup that only copies pages (an
// archive of the page snapshot, no compression, no key) against cp + sync of the database,
// taking turns; the backup is deleted before the next turn.
void CopySpeedFigures(const Settings& s, const fs::path& root) {
  StoreSetOptions stores;
  stores.format = "archive";
  stores.compression = "none";
  Server server(root / "data", 2, stores);
  const fs::path src = server.layout->CollectionDb({"bench", "big"});
  std::vector<double> cp_s, archive_s;
  for (int rep = 0; rep < s.reps; ++rep) {
    auto copy = [&] {
      (void)std::system("sync");
      cp_s.push_back(
          TimeShell("cp '" + src.string() + "' '" + (root / "cp.db").string() + "' && sync"));
      fs::remove(root / "cp.db");
    };
    if (rep % 2 == 0) copy();
    (void)std::system("sync");
    const auto t = Clock::now();
    server.Backup("bench", "big", false, "", "local");
    archive_s.push_back(SecondsSince(t));
    DeleteAll(server, "local");
    if (rep % 2 == 1) copy();
  }
  std::vector<Figure> f{
      {"archive_s", Median(archive_s), "s, full backup: page snapshot, tar, SHA-256, fsync"},
      {"cp_sync_s", Median(cp_s), "s, cp + sync of the database"},
      {"archive_vs_cp", Median(archive_s) / Median(cp_s), "ratio"},
      {"errors", static_cast<double>(g_incremental_errors.load()), "logged above"}};
  for (auto& x : Spread("archive_s", archive_s, "s")) f.push_back(x);
  for (auto& x : Spread("cp_sync_s", cp_s, "s")) f.push_back(x);
  Report("incremental, the page snapshot alone (archive, no compression, local)", f);
}

void Incremental(const Settings& s) {
  const fs::path root = FreshDir(s, "incremental");
  S3rver s3(root / "s3rver");
  ::setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
  StoreSetOptions stores;
  stores.stores = {"s3=s3://bench/b?endpoint=" + s3.Endpoint()};
  stores.format = "chunked";
  if (const char* kib = std::getenv("BENCH_CHUNK_KIB")) stores.chunk_kib = std::atoi(kib);
  if (const char* level = std::getenv("BENCH_COMPRESSION")) stores.compression = level;
  {
    Server server(root / "data", 2, stores);
    const auto rows = static_cast<int64_t>(s.gb * 1024 * 1024 * 1024 / 620);
    FillText(server, "big", rows);
    const fs::path src = server.layout->CollectionDb({"bench", "big"});
    (void)std::system("sync");
    (void)std::system(("curl -sSf --aws-sigv4 aws:amz:us-east-1:s3 --user S3RVER:S3RVER -H "
                       "'x-amz-content-sha256: UNSIGNED-PAYLOAD' -T '" +
                       src.string() + "' " + s3.Endpoint() + "/bench/single")
                          .c_str());
    const std::string label =
        "chunks of " +
        (stores.chunk_kib > 0 ? std::to_string(stores.chunk_kib) + " KiB"
                              : std::string("a quarter page in 16 KiB frames")) +
        ", " + (stores.compression.empty() ? kChunkedCompression : stores.compression);
    for (const std::string store : {"local", "s3"}) {
      IncrementalFigures(s, server, s3, root, rows, store, label);
    }
    HourlyFigures(server, rows);
    DeleteAll(server, "local");
    DeleteAll(server, "s3");
  }
  CopySpeedFigures(s, root);
  Cleanup(root);
}

void CopySpeed(const Settings& s) {
  const fs::path root = FreshDir(s, "copy-speed");
  {
    Server server(root / "data", 2);
    FillText(server, "big", static_cast<int64_t>(s.gb * 1024 * 1024 * 1024 / 620));
  }
  CopySpeedFigures(s, root);
  Cleanup(root);
}

void ChunkStudy(const Settings& s) {
  const fs::path root = FreshDir(s, "chunk-study");
  {
    Server server(root / "data", 2);
    const auto rows = static_cast<int64_t>(s.gb * 1024 * 1024 * 1024 / 620);
    FillText(server, "big", rows);
    const fs::path src = server.layout->CollectionDb({"bench", "big"});
    // The file as a page snapshot sees it: every page checkpointed into it.
    auto copy = [&](const fs::path& to) {
      auto db = sql::Database::Open(src.string(), {});
      Status done = db ? db->Exec("PRAGMA wal_checkpoint(TRUNCATE)") : Status(Fail(db.error()));
      if (!done) {
        std::fprintf(stderr, "backup-bench: chunk-study: checkpoint: %s\n",
                     done.error().message().c_str());
        std::exit(1);
      }
      fs::copy_file(src, to);
    };
    copy(root / "before.db");
    Mutate(src, rows, 0.01, 0.005);
    copy(root / "after.db");
  }
  ChunkStudyFigures(root / "before.db", root / "after.db", 4096);
  Cleanup(root);
}

void Offsite(const Settings& s, bool s3, bool codec, bool archive) {
  if (s3) {
    const fs::path root = FreshDir(s, "offsite");
    S3Figures(s, root);
    Cleanup(root);
  }
  if (codec) CodecFigures(s);
  if (archive) {
    const fs::path local_root = FreshDir(s, "offsite-local");
    LocalFigures(s, local_root);
    Cleanup(local_root);
  }
}

}  // namespace backup::bench
