#include "control/postgres/pg.h"

#include <cstdlib>
#include <cstring>

namespace backup::pg {
namespace {

// Type OIDs of the parameters we send (pg_type.h, stable across releases).
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kTextOid = 25;

// The parameters of one PQexecParams call, owning the text they point into.
struct Encoded {
  std::vector<Oid> types;
  std::vector<std::string> text;  // one per parameter (unused for NULL and bytea)
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
};

Encoded Encode(const std::vector<Value>& params) {
  Encoded e;
  const size_t n = params.size();
  e.types.resize(n);
  e.text.resize(n);
  e.values.resize(n);
  e.lengths.resize(n);
  e.formats.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const Value& v = params[i];
    bool null = false;
    if (std::holds_alternative<std::nullptr_t>(v)) {
      null = true;
    } else if (const auto* n64 = std::get_if<int64_t>(&v)) {
      e.types[i] = kInt8Oid;
      e.text[i] = std::to_string(*n64);
    } else if (const auto* opt = std::get_if<std::optional<int64_t>>(&v)) {
      e.types[i] = kInt8Oid;
      if (*opt) {
        e.text[i] = std::to_string(**opt);
      } else {
        null = true;
      }
    } else if (const auto* s = std::get_if<std::string_view>(&v)) {
      e.types[i] = kTextOid;
      e.text[i] = std::string(*s);
    } else if (const auto* b = std::get_if<bool>(&v)) {
      e.types[i] = kBoolOid;
      e.text[i].assign(1, *b ? 't' : 'f');
    } else if (const auto* bytes = std::get_if<Bytes>(&v)) {
      e.types[i] = kByteaOid;
      e.values[i] = bytes->data.data();
      e.lengths[i] = static_cast<int>(bytes->data.size());
      e.formats[i] = 1;
      continue;
    }
    e.values[i] = null ? nullptr : e.text[i].c_str();
  }
  return e;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

Error ErrorFromResult(const PGresult* result, std::string_view what) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = result ? PQresultErrorMessage(result) : "out of memory";
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  const std::string text = std::string(what) + ": " + message;
  const std::string_view code = state ? state : "";
  if (code == "23505") return Error::AlreadyExists(text);
  // No SQLSTATE: the connection broke before the server answered.
  if (code.empty() || StartsWith(code, "08") || StartsWith(code, "57P") || code == "40001" ||
      code == "40P01" || code == "55P03") {
    return Error::Unavailable(text);
  }
  if (StartsWith(code, "53")) return Error::ResourceExhausted(text);
  if (StartsWith(code, "22")) return Error::InvalidArgument(text);
  return Error::Internal(text);
}

int64_t Rows::Affected() const {
  const char* n = PQcmdTuples(result_.get());
  return (n && *n) ? std::strtoll(n, nullptr, 10) : 0;
}

std::string Rows::Text(int row, int col) const {
  return std::string(PQgetvalue(result_.get(), row, col),
                     static_cast<size_t>(PQgetlength(result_.get(), row, col)));
}

int64_t Rows::Int(int row, int col) const {
  if (IsNull(row, col)) return 0;
  return std::strtoll(PQgetvalue(result_.get(), row, col), nullptr, 10);
}

bool Rows::Bool(int row, int col) const {
  return !IsNull(row, col) && PQgetvalue(result_.get(), row, col)[0] == 't';
}

std::string Rows::Blob(int row, int col) const {
  if (IsNull(row, col)) return {};
  size_t length = 0;
  unsigned char* raw = PQunescapeBytea(
      reinterpret_cast<const unsigned char*>(PQgetvalue(result_.get(), row, col)), &length);
  if (raw == nullptr) return {};
  std::string out(reinterpret_cast<const char*>(raw), length);
  PQfreemem(raw);
  return out;
}

Result<Connection> Connection::Open(const std::string& conninfo) {
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &parse_error);
  if (parsed == nullptr) {
    std::string why = parse_error ? parse_error : "cannot parse";
    PQfreemem(parse_error);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return Fail(Error::InvalidArgument("PostgreSQL connection string: " + why));
  }
  PQconninfoFree(parsed);
  // Defaults first: what the connection string sets overrides them (expand_dbname).
  const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"10", "collector-backup", conninfo.c_str(), nullptr};
  Connection c(PQconnectdbParams(keywords, values, /*expand_dbname=*/1));
  if (!c.conn_) return Fail(Error::ResourceExhausted("PostgreSQL connection: out of memory"));
  if (!c.Healthy()) {
    std::string why = PQerrorMessage(c.conn_.get());
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    // libpq gives no SQLSTATE for a refused start-up, only its message. A refused login
    // or a missing database or role will not mend by waiting; anything else (refused,
    // starting up, shutting down, timed out) may.
    const auto says = [&](std::string_view what) { return why.find(what) != std::string::npos; };
    if (says("authentication failed") || says("no pg_hba.conf entry") || says("password")) {
      return Fail(Error::PermissionDenied("connect to PostgreSQL: " + why));
    }
    if (says("does not exist")) {
      return Fail(Error::FailedPrecondition("connect to PostgreSQL: " + why));
    }
    return Fail(Error::Unavailable("connect to PostgreSQL: " + why));
  }
  // Notices (such as "relation already exists, skipping") are not errors; keep them out of
  // stderr, where libpq would print them.
  PQsetNoticeProcessor(
      c.conn_.get(), [](void*, const char*) {}, nullptr);
  return c;
}

Result<Rows> Connection::Query(std::string_view sql, const std::vector<Value>& params) {
  Encoded e = Encode(params);
  const std::string text(sql);
  PGresult* result =
      PQexecParams(conn_.get(), text.c_str(), static_cast<int>(params.size()), e.types.data(),
                   e.values.data(), e.lengths.data(), e.formats.data(), /*resultFormat=*/0);
  Rows rows(result);  // owns it from here
  const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return Fail(ErrorFromResult(result, "PostgreSQL"));
  }
  return rows;
}

Result<int64_t> Connection::Run(std::string_view sql, const std::vector<Value>& params) {
  auto rows = Query(sql, params);
  if (!rows) return Fail(rows.error());
  return rows->Affected();
}

Status Connection::Exec(std::string_view sql) {
  const std::string text(sql);
  std::unique_ptr<PGresult, void (*)(PGresult*)> result(PQexec(conn_.get(), text.c_str()),
                                                        &PQclear);
  const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return Fail(ErrorFromResult(result.get(), "PostgreSQL"));
  }
  return {};
}

Status Connection::Reset() {
  PQreset(conn_.get());
  if (!Healthy()) {
    std::string why = PQerrorMessage(conn_.get());
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return Fail(Error::Unavailable("reconnect to PostgreSQL: " + why));
  }
  return {};
}

Status Connection::ConsumeInput() {
  if (PQconsumeInput(conn_.get()) == 0) {
    return Fail(Error::Unavailable(std::string("PostgreSQL: ") + PQerrorMessage(conn_.get())));
  }
  return {};
}

std::vector<std::string> Connection::TakeNotifications() {
  std::vector<std::string> out;
  while (PGnotify* n = PQnotifies(conn_.get())) {
    out.emplace_back(n->relname);
    PQfreemem(n);
  }
  return out;
}

std::string TextArray(const std::vector<std::string>& items) {
  std::string out = "{";
  for (const std::string& item : items) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (char c : item) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::string LikeArray(const std::vector<std::string>& globs) {
  std::vector<std::string> likes;
  likes.reserve(globs.size());
  for (const std::string& glob : globs) likes.push_back(GlobToLike(glob));
  return TextArray(likes);
}

std::string GlobToLike(std::string_view glob) {
  std::string out;
  for (char c : glob) {
    if (c == '*') {
      out += '%';
    } else if (c == '?') {
      out += '_';
    } else {
      if (c == '_' || c == '%' || c == '\\') out += '\\';
      out += c;
    }
  }
  return out;
}

}  // namespace backup::pg
