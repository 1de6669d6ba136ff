#include "worker/snapshot.h"

#include <sys/stat.h>

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

int CancelCheck(void* ctx) { return static_cast<JobContext*>(ctx)->cancelled() ? 1 : 0; }

std::string QuoteIdentifier(const std::string& name) {
  std::string out = "\"";
  for (char c : name) out += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

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

Status CheckpointPassive(const fs::path& source) {
  auto db = sql::Database::Open(source.string(), {.create = false});
  if (!db) return Fail(db.error());
  return db->Exec("PRAGMA wal_checkpoint(PASSIVE)");
}

Status VacuumInto(const fs::path& source, const fs::path& dest, JobContext& ctx) {
  auto db = OpenReadOnly(source);
  if (!db) return Fail(db.error());
  sqlite3_progress_handler(db->raw(), kProgressOps, &CancelCheck, &ctx);
  ctx.SetBytesProbe([dest] {
    struct stat st {};
    return ::stat(dest.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : int64_t{0};
  });
  auto stmt = db->Prepare("VACUUM INTO ?1");
  Status ran = stmt ? stmt->Bind({dest.string()}).Run() : Fail(stmt.error());
  ctx.SetBytesProbe(nullptr);
  if (!ran) {
    if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled during the snapshot"));
    return Fail(ran.error().Context("VACUUM INTO"));
  }
  return {};
}

Result<int64_t> CountRecords(const fs::path& path) {
  auto db = OpenReadOnly(path);
  if (!db) return Fail(db.error());
  auto has_records = db->QueryInt(
      "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'records'");
  if (!has_records) return Fail(has_records.error().Context("count records"));
  if (*has_records == 1) return db->QueryInt("SELECT count(*) FROM records");
  // No `records` table: the sum over every user table. Table names come from the
  // schema and are quoted as identifiers (identifiers cannot be bound).
  auto tables = db->Prepare(
      "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
  if (!tables) return Fail(tables.error());
  int64_t total = 0;
  for (;;) {
    auto row = tables->Step();
    if (!row) return Fail(row.error().Context("count records"));
    if (!*row) break;
    auto n = db->QueryInt("SELECT count(*) FROM " + QuoteIdentifier(tables->Text(0)));
    if (!n) return Fail(n.error().Context("count records"));
    total += *n;
  }
  return total;
}

}  // namespace backup
