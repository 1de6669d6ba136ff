// The backup stores a process may use, by name, and how new backups are written
// (compression, encryption key). "local" always exists: <data>/store, a LocalStore.
// Further stores come from `--store NAME=URL`; `--default-store` names where a backup goes
// when its request names none. backupd and backup-worker take the same flags, so any
// process can run any job.
//
// Thread-safety: immutable after Open(); the stores are thread-safe.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/backup_store.h"
#include "storage/codec.h"

namespace backup {

inline const std::string kArchiveCompression = "zstd:3";
inline const std::string kChunkedCompression = "zstd:1";

struct StoreSetOptions {
  std::vector<std::string> stores;  // NAME=URL
  std::string default_store = "local";
  std::optional<std::filesystem::path> credentials_file;
  // "zstd:LEVEL[:THREADS]" or "none"; "" for the format's default: zstd:3 for archives,
  // zstd:1 for chunked backups (on one-page chunks, level 1 compressed the bench's records
  // as well as level 3, 1.5x faster: BENCHMARKS.md section 12).
  std::string compression;
  std::string format = "archive";  // or "chunked"
  // chunked: the snapshot's chunk size, whole pages or a part of a page that divides it;
  // 0: one page.
  int chunk_kib = 0;
  // An archive's snapshot: "pages" (the database's pages as a read transaction sees them)
  // or "vacuum" (VACUUM INTO: compacted, without free pages). Chunked backups use pages.
  std::string snapshot = "pages";
  std::optional<std::filesystem::path> key_file;     // seals new backups
  std::vector<std::filesystem::path> old_key_files;  // only open older ones
};

class StoreSet {
 public:
  // Opens every store (nothing is contacted yet) and reads the keys. `local_root` is the
  // "local" store's folder, created 0700 when missing.
  static Result<std::unique_ptr<StoreSet>> Open(const StoreSetOptions& options,
                                                const std::filesystem::path& local_root);

  // nullptr when no store has that name.
  BackupStore* Find(const std::string& name) const;
  const std::string& default_name() const { return default_; }
  const Compression& compression() const { return compression_; }
  // New backups in the chunked format (worker/chunked_io.h) rather than as archives.
  bool chunked() const { return chunked_; }
  // The snapshot's chunk size in bytes (rounded down to whole pages, at least one); 0: a page.
  int64_t chunk_bytes() const { return chunk_bytes_; }
  // Archives snapshot with VACUUM INTO rather than page for page.
  bool vacuum_snapshot() const { return vacuum_snapshot_; }
  const KeyRing& keys() const { return keys_; }
  std::vector<std::string> names() const;

  // Writes, reads back and removes a probe in every store; the error names the store.
  Status CheckAll() const;

 private:
  StoreSet() = default;
  std::map<std::string, std::unique_ptr<BackupStore>> stores_;
  std::string default_;
  Compression compression_;
  bool chunked_ = false;
  int64_t chunk_bytes_ = 0;
  bool vacuum_snapshot_ = false;
  KeyRing keys_;
};

}  // namespace backup
