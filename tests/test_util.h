// Helpers shared by the tests: temporary folders, a controllable clock, and collections
// filled with real rows and files.
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <string>
#include <utility>

#include "common/clock.h"
#include "common/sqlite.h"

namespace backup::testing {

// A fresh folder under $TMPDIR, removed with everything in it at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t now_ms = 1'800'000'000'000) : now_(now_ms) {}
  int64_t NowMs() const override { return now_.load(); }
  void Advance(int64_t ms) { now_ += ms; }

 private:
  std::atomic<int64_t> now_;
};

// Inserts `count` rows into the Collector `records` table of the collection database at
// `db_path` (ids "r<first_id>".., payloads of `payload_bytes` pseudo-random bytes).
void FillRecords(const std::filesystem::path& db_path, int count, int payload_bytes = 100,
                 int first_id = 0);

// Writes `count` files of `bytes` each under `dir`, spread over a few sub-folders.
void WriteFiles(const std::filesystem::path& dir, int count, int bytes);

// Every row of every user table, in a canonical order, as text: equal dumps mean equal
// contents.
std::string CanonicalDump(const std::filesystem::path& db_path);

// The result of PRAGMA integrity_check ("ok" when sound).
std::string IntegrityCheck(const std::filesystem::path& db_path);

std::string ReadFile(const std::filesystem::path& path);

// What the shell `command` prints (stdout and stderr together), and its exit status.
std::pair<std::string, int> Shell(const std::string& command);

// Unpacks a local archive-format backup (".tar", ".tar.zst") with the system's tar and
// zstd into `into` (created); "database.sqlite" and "files/" are then in it. Proves the
// unencrypted format is a standard one.
std::filesystem::path UnpackArchive(const std::filesystem::path& archive,
                                    const std::filesystem::path& into);

// Relative path -> bytes of every regular file below `dir`.
std::map<std::string, std::string> FileTree(const std::filesystem::path& dir);

}  // namespace backup::testing
