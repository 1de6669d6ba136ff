#include "worker/snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>

#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "common/sqlite.h"

namespace backup {
namespace fs = std::filesystem;

namespace {

// VM instructions between two cancellation checks: frequent enough to stop within
// milliseconds, rare enough to cost nothing measurable.
constexpr int kProgressOps = 10'000;

Result<sql::Database> OpenReadOnly(const fs::path& path) {
  // mode=ro through a URI: the connection can never write the collection.
  return sql::Database::Open(path.string(), {.read_only = true});
}

// SQLite's progress handler during VACUUM INTO: stops it when the job is cancelled, and
// keeps the output's dirty pages bounded as it grows (see WritebackLimiter).
struct VacuumProgress {
  JobContext* ctx;
  const fs::path* dest;
  int fd = -1;
  unsigned calls = 0;
  WritebackLimiter writeback;
  ~VacuumProgress() {
    if (fd >= 0) ::close(fd);
  }
};

int OnVacuumProgress(void* arg) {
  auto* p = static_cast<VacuumProgress*>(arg);
  if (p->ctx->cancelled()) return 1;
  if (++p->calls % 16 != 0) return 0;  // an fstat every ~160k VM steps is plenty
  if (p->fd < 0) p->fd = ::open(p->dest->c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (p->fd >= 0 && ::fstat(p->fd, &st) == 0) p->writeback.Advance(p->fd, st.st_size);
  return 0;
}

std::string QuoteIdentifier(const std::string& name) {
  std::string out = "\"";
  for (char c : name) out += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

Status RollBackHotJournal(const fs::path& source) {
  struct stat st {};
  if (::lstat((source.string() + "-journal").c_str(), &st) != 0 || st.st_size == 0) return {};
  auto db = sql::Database::Open(source.string(), {.create = false});
  if (!db) return Fail(db.error().Context("roll back a hot journal"));
  auto read = db->QueryInt("SELECT count(*) FROM sqlite_schema");
  if (!read) return Fail(read.error().Context("roll back a hot journal"));
  return {};
}

Result<int64_t> EstimateSnapshotBytes(const fs::path& source) {
  auto db = OpenReadOnly(source);
  if (!db) return Fail(db.error());
  auto pages = db->QueryInt("PRAGMA page_count");
  auto free_pages = db->QueryInt("PRAGMA freelist_count");
  auto page_size = db->QueryInt("PRAGMA page_size");
  if (!pages || !free_pages || !page_size) {
    return Fail(Error::DataLoss("cannot read the page counts of " + source.string()));
  }
  return (*pages - *free_pages) * *page_size;
}

Status VacuumInto(const fs::path& source, const fs::path& dest, JobContext& ctx, bool checkpoint) {
  std::optional<sql::Database> checkpointer;
  auto checkpoint_now = [&](const char* when) {
    if (!checkpointer) return;
    if (auto s = checkpointer->Exec("PRAGMA wal_checkpoint(PASSIVE)"); !s) {
      spdlog::debug("{} checkpoint {} the snapshot skipped: {}", ctx.LogTag(), when,
                    s.error().message());
    }
  };
  if (checkpoint) {
    auto conn = sql::Database::Open(source.string(), {.create = false});
    if (conn) checkpointer.emplace(std::move(*conn));
  }
  checkpoint_now("before");
  auto db = OpenReadOnly(source);
  if (!db) return Fail(db.error());
  VacuumProgress progress{&ctx, &dest};
  sqlite3_progress_handler(db->raw(), kProgressOps, &OnVacuumProgress, &progress);
  ctx.SetBytesProbe([dest] {
    struct stat st {};
    return ::stat(dest.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : int64_t{0};
  });
  auto stmt = db->Prepare("VACUUM INTO ?1");
  Status ran = stmt ? stmt->Bind({dest.string()}).Run() : Fail(stmt.error());
  stmt = Fail(Error::Internal("finished"));  // ends the snapshot's read transaction...
  checkpoint_now("after");                   // ...so this checkpoint can copy everything
  ctx.SetBytesProbe(nullptr);
  sqlite3_progress_handler(db->raw(), 0, nullptr, nullptr);
  if (!ran) {
    if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled during the snapshot"));
    return Fail(ran.error().Context("VACUUM INTO"));
  }
  return {};
}

Result<int64_t> CountRecords(const fs::path& path) {
  auto db = OpenReadOnly(path);
  if (!db) return Fail(db.error());
  return CountRecordsIn(*db);
}

Result<int64_t> CountRecordsIn(sql::Database& db) {
  auto has_records =
      db.QueryInt("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'records'");
  if (!has_records) return Fail(has_records.error().Context("count records"));
  if (*has_records == 1) return db.QueryInt("SELECT count(*) FROM records");
  // No `records` table: the sum over every user table. Table names come from the
  // schema and are quoted as identifiers (identifiers cannot be bound).
  auto tables = db.Prepare(
      "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
  if (!tables) return Fail(tables.error());
  int64_t total = 0;
  for (;;) {
    auto row = tables->Step();
    if (!row) return Fail(row.error().Context("count records"));
    if (!*row) break;
    auto n = db.QueryInt("SELECT count(*) FROM " + QuoteIdentifier(tables->Text(0)));
    if (!n) return Fail(n.error().Context("count records"));
    total += *n;
  }
  return total;
}

}  // namespace backup
