// Failure classification and backoff.
#include "worker/retry_policy.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "common/sqlite.h"

namespace backup {
namespace {

TEST(RetryPolicy, ClassifiesFailures) {
  struct Case {
    Error error;
    bool transient;
  };
  const Case cases[] = {
      {sql::ErrorFromSqlite(SQLITE_BUSY, "x"), true},
      {sql::ErrorFromSqlite(SQLITE_LOCKED, "x"), true},
      {sql::ErrorFromSqlite(SQLITE_IOERR, "x"), true},
      {Error::FromErrno(EIO, "x"), true},
      {Error::FromErrno(EAGAIN, "x"), true},
      {sql::ErrorFromSqlite(SQLITE_FULL, "x"), false},
      {Error::FromErrno(ENOSPC, "x"), false},
      {sql::ErrorFromSqlite(SQLITE_CORRUPT, "x"), false},
      {Error::NotFound("x"), false},
      {Error::InvalidArgument("x"), false},
      {Error::FromErrno(EACCES, "x"), false},
  };
  for (const Case& c : cases) EXPECT_EQ(IsTransient(c.error), c.transient) << c.error.message();
  EXPECT_EQ(Error::FromErrno(ENOSPC, "write").code(), Code::kResourceExhausted);
  EXPECT_NE(Error::FromErrno(ENOSPC, "write").message().find("full"), std::string::npos);
  EXPECT_EQ(sql::ErrorFromSqlite(SQLITE_FULL, "x").code(), Code::kResourceExhausted);
}

TEST(RetryPolicy, BackoffDoublesWithJitterAndIsCapped) {
  for (uint64_t r : {0ull, 1ull, 123456789ull, ~0ull}) {
    for (int attempt = 1; attempt <= 8; ++attempt) {
      int64_t full = std::min<int64_t>(1000LL << (attempt - 1), 60'000);
      int64_t d = RetryDelayMs(attempt, 1000, 60'000, r);
      EXPECT_GE(d, full / 2) << attempt;
      EXPECT_LE(d, full) << attempt;
    }
  }
  EXPECT_EQ(RetryDelayMs(1, 1000, 60'000, 0), 500);
  EXPECT_EQ(RetryDelayMs(3, 1000, 60'000, 0), 2000);
  EXPECT_EQ(RetryDelayMs(30, 1000, 60'000, 0), 30'000);
}

}  // namespace
}  // namespace backup
