#include "common/sqlite.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "common/beneath.h"

namespace backup::sql {

Error ErrorFromSqlite(int rc, std::string_view what, sqlite3* db) {
  std::string message(what);
  message += ": ";
  message += (db != nullptr && sqlite3_errcode(db) == rc) ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  // A read-only connection cannot roll back a hot journal (a writer that died mid-commit)
  // nor recover a WAL: the application's next connection does, so it is transient.
  if (rc == SQLITE_READONLY_ROLLBACK || rc == SQLITE_READONLY_RECOVERY) {
    return Error::Unavailable(std::move(message) +
                              " (the database needs a rollback or recovery that a read-only "
                              "connection cannot make; retried)");
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Error::Unavailable(std::move(message));
    case SQLITE_FULL:
      return Error::ResourceExhausted(std::move(message) + " (no space left)");
    case SQLITE_INTERRUPT:
      return Error::Cancelled(std::move(message));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Error::DataLoss(std::move(message));
    case SQLITE_CANTOPEN:
      return Error::NotFound(std::move(message));
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return Error::PermissionDenied(std::move(message));
    case SQLITE_CONSTRAINT:
      return Error::AlreadyExists(std::move(message));
    case SQLITE_IOERR:
      return Error::Unavailable(std::move(message));
    default:
      return Error::Internal(std::move(message));
  }
}

bool HeaderSaysWal(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  unsigned char versions[2] = {0, 0};
  const bool wal = ::pread(fd, versions, 2, 18) == 2 && versions[0] == 2 && versions[1] == 2;
  ::close(fd);
  return wal;
}

Status MarkWal(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Fail(Error::FromErrno(errno, "open " + path));
  const bool wrote = ::pwrite(fd, "\x02\x02", 2, 18) == 2;
  const int err = errno;
  ::close(fd);
  if (!wrote) return Fail(Error::FromErrno(err, "mark " + path + " as WAL"));
  return {};
}

Statement& Statement::BindAt(int index, Value value) {
  sqlite3_stmt* s = stmt_.get();
  std::visit(
      [&](auto&& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) {
          sqlite3_bind_null(s, index);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          sqlite3_bind_int64(s, index, v);
        } else if constexpr (std::is_same_v<T, double>) {
          sqlite3_bind_double(s, index, v);
        } else {
          sqlite3_bind_text(s, index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        }
      },
      value);
  return *this;
}

Statement& Statement::Bind(std::initializer_list<Value> values) {
  int index = 1;
  for (const Value& v : values) BindAt(index++, v);
  return *this;
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Fail(ErrorFromSqlite(rc, "sqlite step", db_));
}

Status Statement::Run() {
  for (;;) {
    auto more = Step();
    if (!more) return Fail(more.error());
    if (!*more) return {};
  }
}

std::string Statement::Text(int col) const {
  const auto* p = sqlite3_column_text(stmt_.get(), col);
  int n = sqlite3_column_bytes(stmt_.get(), col);
  return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
}

std::string Statement::Blob(int col) const {
  const void* p = sqlite3_column_blob(stmt_.get(), col);
  int n = sqlite3_column_bytes(stmt_.get(), col);
  return p ? std::string(static_cast<const char*>(p), n) : std::string();
}

Result<Database> Database::Open(const std::string& path, const OpenOptions& options) {
  InstallPinnedPathVfs();  // paths through pinned folders are opened as given
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
  if (options.read_only) {
    flags |= SQLITE_OPEN_READONLY;
  } else {
    flags |= SQLITE_OPEN_READWRITE | (options.create ? SQLITE_OPEN_CREATE : 0);
  }
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Database db(raw);  // owns the handle even when the open failed
  if (rc != SQLITE_OK) return Fail(ErrorFromSqlite(rc, "open " + path, raw));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, options.busy_timeout_ms);
  return db;
}

Result<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_.get(), sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return Fail(ErrorFromSqlite(rc, "prepare", db_.get()));
  return Statement(db_.get(), stmt);
}

Status Database::Exec(std::string_view sql) {
  std::string owned(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_.get(), owned.c_str(), nullptr, nullptr, &err);
  if (err != nullptr) sqlite3_free(err);
  if (rc != SQLITE_OK) return Fail(ErrorFromSqlite(rc, "exec", db_.get()));
  return {};
}

Status Database::Run(std::string_view sql, std::initializer_list<Value> values) {
  auto stmt = Prepare(sql);
  if (!stmt) return Fail(stmt.error());
  return stmt->Bind(values).Run();
}

Result<int64_t> Database::QueryInt(std::string_view sql, std::initializer_list<Value> values) {
  auto stmt = Prepare(sql);
  if (!stmt) return Fail(stmt.error());
  stmt->Bind(values);
  auto row = stmt->Step();
  if (!row) return Fail(row.error());
  if (!*row) return Fail(Error::NotFound("query returned no row"));
  return stmt->Int(0);
}

Result<Transaction> Transaction::Begin(Database& db) {
  if (auto s = db.Exec("BEGIN IMMEDIATE"); !s) return Fail(s.error().Context("begin"));
  return Transaction(&db);
}

Transaction::~Transaction() {
  if (db_ != nullptr) (void)db_->Exec("ROLLBACK");
}

Status Transaction::Commit() {
  if (auto s = db_->Exec("COMMIT"); !s) return Fail(s.error().Context("commit"));
  db_ = nullptr;
  return {};
}

}  // namespace backup::sql
