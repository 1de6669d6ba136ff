// A consistent snapshot of a live SQLite collection read page for page, each page at its
// own page number: the database file exactly as a reader sees it, at the cost of reading
// the file. Unchanged pages stay byte-identical between two snapshots, which is what
// makes a chunked backup incremental (docs/incremental-snapshots.md).
//
// How it stays consistent while the application writes (WAL mode): a read-only connection
// opens a read transaction, and a PASSIVE checkpoint then copies every WAL frame into the
// database file. When the checkpoint reports every frame copied, no frame is newer than
// the read transaction (a checkpoint never copies past a reader's snapshot), so the file
// holds exactly that snapshot, and nothing can change it while the transaction stays
// open: frames written later are never copied past it. Writers keep writing meanwhile,
// into the WAL. When a writer commits between the two steps, the transaction ends and the
// pair is tried again (up to `tries` times, kUnavailable after), from the second try on
// with writers held off (a write transaction of our own) from the read's start to the
// checkpoint's end: a few milliseconds, the bulk of the WAL copied just before (an
// application writer waits that long in its busy handler). In rollback-journal mode the
// read transaction's shared lock holds writers off the file, as any reader does.
//
// Pages are read through SQLite's own handle of the file (SQLITE_FCNTL_FILE_POINTER), so
// they come from the file the connection opened, whatever the path names by then.
//
// Thread-safety: one thread per snapshot; Take() may run on several threads at once.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>

#include "common/error.h"
#include "common/sqlite.h"
#include "worker/job_context.h"

namespace backup {

class PageSnapshot {
 public:
  struct Options {
    // Checkpoint tries before giving up with kUnavailable (a writer committed in between
    // every time); 0.5 ms, then doubling up to 50 ms, between two tries.
    int tries = 20;
    // PASSIVE checkpoint again when the snapshot ends (see VacuumInto in snapshot.h).
    bool checkpoint_after = true;
    // From the second try on, how long to wait for the writer of the moment before holding
    // writers off for the next try.
    int hold_wait_ms = 1000;
  };
  static Result<std::unique_ptr<PageSnapshot>> Take(const std::filesystem::path& source,
                                                    const Options& options, JobContext& ctx);
  ~PageSnapshot();
  PageSnapshot(const PageSnapshot&) = delete;
  PageSnapshot& operator=(const PageSnapshot&) = delete;

  int64_t page_size() const { return page_size_; }
  int64_t size() const { return page_size_ * page_count_; }
  // Reads `length` bytes at `offset` (within size()) into `out`.
  Status ReadAt(int64_t offset, char* out, int64_t length);
  // Rows in the snapshot's `records` table (or every user table), as CountRecords.
  Result<int64_t> CountRecords();
  // How many checkpoint tries it took (1: the first), and how long writers were held off.
  int tries() const { return tries_; }
  int64_t writers_held_us() const { return held_us_; }

 private:
  PageSnapshot(sql::Database reader, std::optional<sql::Database> checkpointer, bool after)
      : reader_(std::move(reader)), checkpointer_(std::move(checkpointer)), after_(after) {}
  Status Begin();
  // A write transaction of our own, so that no writer commits until ReleaseWriters(); false
  // when the writer of the moment did not finish within hold_wait_ms.
  Result<bool> HoldWriters(const std::filesystem::path& source, const Options& options);
  void ReleaseWriters();
  // True when the checkpoint copied every frame (or the database is not in WAL mode).
  // `writers_held`: no writer could commit meanwhile, so a checkpoint that still cannot copy
  // every frame is held back by a reader (said in unsettled_why_).
  Result<bool> Settled(bool writers_held);

  sql::Database reader_;
  std::optional<sql::Database> checkpointer_;
  std::optional<sql::Database> holder_;
  std::chrono::steady_clock::time_point held_since_;
  int64_t held_us_ = 0;
  bool after_ = true;
  bool open_ = false;
  sqlite3_file* file_ = nullptr;
  int64_t page_size_ = 0;
  int64_t page_count_ = 0;
  int tries_ = 0;
  std::string unsettled_why_;  // why the last try did not settle
};

}  // namespace backup
