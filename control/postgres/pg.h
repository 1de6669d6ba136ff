// A thin RAII layer over libpq: Connection (one session) and Rows (one result). Values
// reach SQL only as parameters of PQexecParams, typed (bigint, text, bytea, boolean), never
// spliced into the text. Results come back in text format and are decoded here.
//
// Thread-safety: a Connection belongs to one thread at a time; PostgresControlStore hands
// connections out from its pool.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/error.h"

namespace backup::pg {

// A bytea parameter (sent in binary, so any bytes go through unchanged).
struct Bytes {
  std::string_view data;
};

// nullptr: an untyped NULL; std::optional<int64_t>: a bigint that may be NULL.
using Value =
    std::variant<std::nullptr_t, int64_t, std::optional<int64_t>, std::string_view, Bytes, bool>;

// Maps a failed result to an Error by its SQLSTATE: unique violations are kAlreadyExists,
// lost connections, shutdowns, serialization failures and deadlocks kUnavailable
// (transient: the caller may retry), data exceptions kInvalidArgument, insufficient
// resources kResourceExhausted, anything else kInternal.
Error ErrorFromResult(const PGresult* result, std::string_view what);

class Rows {
 public:
  explicit Rows(PGresult* result) : result_(result, &PQclear) {}

  int Count() const { return PQntuples(result_.get()); }
  // Rows an INSERT, UPDATE or DELETE touched.
  int64_t Affected() const;
  bool IsNull(int row, int col) const { return PQgetisnull(result_.get(), row, col) != 0; }
  std::string Text(int row, int col) const;
  // 0 for NULL.
  int64_t Int(int row, int col) const;
  bool Bool(int row, int col) const;
  // A bytea column, decoded from its text form.
  std::string Blob(int row, int col) const;

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> result_;
};

class Connection {
 public:
  // Connects with `conninfo` (a postgres:// URI or key=value pairs). kUnavailable when the
  // server cannot be reached, kInvalidArgument for a malformed conninfo.
  static Result<Connection> Open(const std::string& conninfo);

  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;

  // Runs one statement with parameters $1..$N.
  Result<Rows> Query(std::string_view sql, const std::vector<Value>& params = {});
  // Runs a statement for its effect; returns the rows it touched.
  Result<int64_t> Run(std::string_view sql, const std::vector<Value>& params = {});
  // Runs one or more statements without parameters (schema, BEGIN/COMMIT).
  Status Exec(std::string_view sql);

  // False once the session is known to be broken.
  bool Healthy() const { return PQstatus(conn_.get()) == CONNECTION_OK; }
  // True inside a transaction block (also a failed one, until ROLLBACK).
  bool InTransaction() const { return PQtransactionStatus(conn_.get()) != PQTRANS_IDLE; }
  // Reconnects with the same settings. kUnavailable when the server is still unreachable.
  Status Reset();

  // Notifications (LISTEN) read from the socket so far: their channel names.
  Status ConsumeInput();
  std::vector<std::string> TakeNotifications();
  int Socket() const { return PQsocket(conn_.get()); }

 private:
  explicit Connection(PGconn* conn) : conn_(conn, &PQfinish) {}
  std::unique_ptr<PGconn, void (*)(PGconn*)> conn_;
};

// A text[] literal of `items` ('{"a","b"}', quoted and escaped) for `= ANY($n::text[])`.
std::string TextArray(const std::vector<std::string>& items);

// The text[] literal of `globs` as LIKE patterns (GlobToLike), for
// "col LIKE ANY ($n::text[])".
std::string LikeArray(const std::vector<std::string>& globs);

// A namespace glob (the token scopes' patterns, [a-z0-9._-*?] only) as a LIKE pattern with
// '\' as escape: '*' -> '%', '?' -> '_', literal '_' and '%' escaped.
std::string GlobToLike(std::string_view glob);

}  // namespace backup::pg
