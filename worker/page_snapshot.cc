#include "worker/page_snapshot.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

#include "worker/snapshot.h"

namespace backup {
namespace fs = std::filesystem;

Result<std::unique_ptr<PageSnapshot>> PageSnapshot::Take(const fs::path& source,
                                                         const Options& options, JobContext& ctx) {
  auto reader = sql::Database::Open(source.string(), {.read_only = true});
  if (!reader) return Fail(reader.error());
  // SQLite cannot checkpoint through a read-only connection; without a writable one the
  // WAL cannot be settled (a read-only folder), and the caller takes another snapshot.
  auto writer = sql::Database::Open(source.string(), {.create = false});
  std::optional<sql::Database> checkpointer;
  if (writer) checkpointer.emplace(std::move(*writer));
  std::unique_ptr<PageSnapshot> snap(
      new PageSnapshot(std::move(*reader), std::move(checkpointer), options.checkpoint_after));
  auto pause = std::chrono::microseconds(500);
  for (snap->tries_ = 1; snap->tries_ <= options.tries; ++snap->tries_) {
    if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled before the snapshot"));
    // After a first try that a writer's commit spoiled, writers are held off from the
    // read's start to the checkpoint's end (the bulk of the WAL copied just before).
    auto held = snap->tries_ > 1 ? snap->HoldWriters(source, options) : Result<bool>(false);
    if (!held) return Fail(held.error().Context("snapshot of " + source.string()));
    BACKUP_TRY(snap->Begin(), "snapshot of " + source.string());
    auto settled = snap->Settled(*held);
    if (*held) snap->ReleaseWriters();
    if (!settled) return Fail(settled.error().Context("snapshot of " + source.string()));
    if (*settled) break;
    (void)snap->reader_.Exec("COMMIT");
    snap->open_ = false;
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(50));
  }
  if (!snap->open_) {
    return Fail(Error::Unavailable("the WAL never settled in " + std::to_string(options.tries) +
                                   " tries: " + snap->unsettled_why_));
  }
  auto page_size = snap->reader_.QueryInt("PRAGMA page_size");
  auto page_count = snap->reader_.QueryInt("PRAGMA page_count");
  if (!page_size || !page_count) {
    return Fail(Error::DataLoss("cannot read the page counts of " + source.string()));
  }
  snap->page_size_ = *page_size;
  snap->page_count_ = *page_count;
  if (sqlite3_file_control(snap->reader_.raw(), "main", SQLITE_FCNTL_FILE_POINTER, &snap->file_) !=
          SQLITE_OK ||
      snap->file_ == nullptr || snap->file_->pMethods == nullptr) {
    return Fail(Error::Internal("no file handle for " + source.string()));
  }
  return snap;
}

Result<bool> PageSnapshot::HoldWriters(const fs::path& source, const Options& options) {
  if (!checkpointer_) return false;
  (void)checkpointer_->Exec("PRAGMA wal_checkpoint(PASSIVE)");  // the bulk, holding nothing
  if (!holder_) {
    auto holder = sql::Database::Open(source.string(),
                                      {.create = false, .busy_timeout_ms = options.hold_wait_ms});
    if (!holder) return Fail(holder.error());
    holder_.emplace(std::move(*holder));
  }
  // BEGIN IMMEDIATE takes the write lock: it waits for the writer of the moment (at most
  // hold_wait_ms; busy: this try goes without) and makes the next ones wait on theirs.
  if (!holder_->Exec("BEGIN IMMEDIATE")) return false;
  held_since_ = std::chrono::steady_clock::now();
  return true;
}

void PageSnapshot::ReleaseWriters() {
  (void)holder_->Exec("ROLLBACK");
  held_us_ += std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - held_since_)
                  .count();
}

Status PageSnapshot::Begin() {
  BACKUP_TRY(reader_.Exec("BEGIN"), "begin");
  open_ = true;
  // A deferred transaction starts reading at its first statement: this one.
  auto schema = reader_.QueryInt("SELECT count(*) FROM sqlite_schema");
  if (!schema) return Fail(schema.error());
  return {};
}

Result<bool> PageSnapshot::Settled(bool writers_held) {
  auto mode = reader_.Prepare("PRAGMA journal_mode");
  if (!mode) return Fail(mode.error());
  auto row = mode->Step();
  if (!row || !*row) return Fail(Error::Internal("PRAGMA journal_mode gave no row"));
  // Not in WAL mode: the read transaction's shared lock keeps the file as it is.
  if (mode->Text(0) != "wal") return true;
  if (!checkpointer_) {
    return Fail(Error::Unavailable("no writable connection to checkpoint the WAL with"));
  }
  // A connection that has not read the database yet has not opened its WAL either, and
  // its checkpoint would report "not in WAL mode" (-1 frames) and copy nothing.
  auto opened = checkpointer_->QueryInt("SELECT count(*) FROM sqlite_schema");
  if (!opened) return Fail(opened.error());
  int log_frames = -1;
  int copied = -1;
  // Another connection's checkpoint (an application writer's automatic one) holds the
  // checkpoint lock for as long as it copies: wait for it, up to 50 ms.
  int rc = SQLITE_BUSY;
  for (int wait = 0; wait < 50 && (rc == SQLITE_BUSY || rc == SQLITE_LOCKED); ++wait) {
    if (wait > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    rc = sqlite3_wal_checkpoint_v2(checkpointer_->raw(), "main", SQLITE_CHECKPOINT_PASSIVE,
                                   &log_frames, &copied);
  }
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    unsettled_why_ = "another connection's checkpoint held the checkpoint lock";
    return false;
  }
  if (rc != SQLITE_OK) {
    return Fail(
        Error::Unavailable(std::string("checkpoint: ") + sqlite3_errmsg(checkpointer_->raw())));
  }
  if (log_frames >= 0 && log_frames == copied) return true;
  unsettled_why_ =
      writers_held
          ? "a reader kept an older snapshot of the WAL open (a long read transaction), so a "
            "checkpoint could copy only " +
                std::to_string(copied) + " of " + std::to_string(log_frames) +
                " frames while writers were held off"
          : "writers kept committing between the snapshot's read and its checkpoint";
  return false;
}

Status PageSnapshot::ReadAt(int64_t offset, char* out, int64_t length) {
  if (offset < 0 || length < 0 || offset + length > size()) {
    return Fail(Error::Internal("read past the snapshot's end"));
  }
  const int rc = file_->pMethods->xRead(file_, out, static_cast<int>(length), offset);
  // A settled snapshot's pages are all in the file (every frame it sees was copied there):
  // a short file means a checkpoint did not do what it reported. Retried, and loud.
  if (rc == SQLITE_IOERR_SHORT_READ) {
    sqlite3_int64 file_size = -1;
    (void)file_->pMethods->xFileSize(file_, &file_size);
    return Fail(Error::Unavailable("the database file has " + std::to_string(file_size) +
                                   " bytes, fewer than the snapshot's " + std::to_string(size()) +
                                   " (settled after " + std::to_string(tries_) + " tries)"));
  }
  if (rc != SQLITE_OK) {
    return Fail(
        Error::Unavailable("read the database file: SQLite I/O error " + std::to_string(rc)));
  }
  return {};
}

Result<int64_t> PageSnapshot::CountRecords() { return CountRecordsIn(reader_); }

PageSnapshot::~PageSnapshot() {
  if (open_) (void)reader_.Exec("COMMIT");
  if (after_ && checkpointer_) (void)checkpointer_->Exec("PRAGMA wal_checkpoint(PASSIVE)");
}

}  // namespace backup
