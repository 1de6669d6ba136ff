// A thin RAII layer over the SQLite C API: Database (one connection), Statement (one
// prepared statement with bound parameters) and Transaction (BEGIN IMMEDIATE, rolled
// back unless committed). Values reach SQL only as bound parameters.
//
// Thread-safety: a Database and its Statements belong to one thread at a time; callers
// that share a connection serialise access themselves (ControlStore holds a mutex).
// Interrupt() is the one call that is safe from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <sqlite3.h>

#include "common/error.h"

namespace backup::sql {

// Maps a SQLite result code to an Error: BUSY/LOCKED are kUnavailable (transient),
// FULL kResourceExhausted, INTERRUPT kCancelled, CORRUPT/NOTADB kDataLoss.
Error ErrorFromSqlite(int rc, std::string_view what, sqlite3* db = nullptr);

using Value = std::variant<std::nullptr_t, int64_t, std::string_view, double>;

class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt, &sqlite3_finalize) {}

  // Binds parameters 1..N in order. Returns *this for chaining.
  Statement& Bind(std::initializer_list<Value> values);
  Statement& BindAt(int index, Value value);

  // Advances one row: true when a row is available, false when done.
  Result<bool> Step();
  // Steps to completion, discarding rows.
  Status Run();
  // Makes the statement ready to bind and run again.
  void Reset() {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
  }

  int ColumnCount() const { return sqlite3_column_count(stmt_.get()); }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
  double Double(int col) const { return sqlite3_column_double(stmt_.get(), col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
  std::string Text(int col) const;
  std::string Blob(int col) const;

 private:
  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt_;
};

struct OpenOptions {
  bool read_only = false;        // SQLITE_OPEN_READONLY; never creates the file
  bool create = true;            // create the file if missing (ignored when read_only)
  int busy_timeout_ms = 10'000;  // how long a statement waits on another writer
};

class Database {
 public:
  // Opens (or creates) the database at `path`. Fails with kNotFound when a read-only
  // open finds no file.
  static Result<Database> Open(const std::string& path, const OpenOptions& options);

  Database(Database&&) noexcept = default;
  Database& operator=(Database&&) noexcept = default;

  Result<Statement> Prepare(std::string_view sql);
  // Runs one or more statements that take no parameters (schema, pragmas).
  Status Exec(std::string_view sql);
  // Prepares, binds and runs one statement.
  Status Run(std::string_view sql, std::initializer_list<Value> values);
  // Runs a query whose first column of the first row is an integer.
  Result<int64_t> QueryInt(std::string_view sql, std::initializer_list<Value> values = {});

  int64_t Changes() const { return sqlite3_changes64(db_.get()); }
  sqlite3* raw() const { return db_.get(); }
  // Makes the running statement return SQLITE_INTERRUPT. Safe from any thread.
  void Interrupt() const { sqlite3_interrupt(db_.get()); }

 private:
  explicit Database(sqlite3* db) : db_(db, &sqlite3_close_v2) {}
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db_;
};

// BEGIN IMMEDIATE on construction (so two writers never deadlock upgrading a read lock);
// rolls back on destruction unless Commit() succeeded.
class Transaction {
 public:
  static Result<Transaction> Begin(Database& db);
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Status Commit();

 private:
  explicit Transaction(Database* db) : db_(db) {}
  Database* db_;
};

// True when the database file at `path` is in WAL mode by its header (bytes 18 and 19, the
// file format versions, are 2); false for a rollback journal, or a file that cannot be read.
bool HeaderSaysWal(const std::string& path);
// Marks the closed database file at `path` as in WAL mode (bytes 18 and 19 set to 2), as a
// WAL database closed cleanly looks: VACUUM INTO writes a rollback-journal copy whatever
// the source's mode, and this gives the copy the source's. No connection may have it open.
Status MarkWal(const std::string& path);

}  // namespace backup::sql
