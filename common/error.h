// The one error type of Collector Backup: a code (gRPC's code space, so the server edge
// maps it 1:1) and a message a person can act on. Functions that can fail return
// Result<T> = tl::expected<T, Error>; context is added on the way up with Context():
//   "claim job: database is locked".
// Error is a plain value; safe to copy between threads.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

#include "common/text.h"

namespace backup {

enum class Code {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kNotFound = 4,
  kAlreadyExists = 5,
  kPermissionDenied = 6,
  kResourceExhausted = 7,
  kFailedPrecondition = 8,
  kAborted = 9,
  kOutOfRange = 10,
  kUnimplemented = 11,
  kInternal = 12,
  kUnavailable = 13,
  kDataLoss = 14,
  // Not in the Collector API's Status.Code enum (which lacks it): only ever a call's gRPC
  // status at the server edge, never stored with a job nor put in a response body.
  kDeadlineExceeded = 15,
  // Likewise edge-only: a call without valid credentials.
  kUnauthenticated = 16,
};

std::string_view CodeName(Code code);

class Error {
 public:
  // The message is text: bytes that are not UTF-8 (a file's name, say) are escaped here, so
  // no error can carry them into a protobuf string, a TEXT column or a JSON log line.
  Error(Code code, std::string message) : code_(code), message_(ValidUtf8(std::move(message))) {}

  static Error Cancelled(std::string m) { return {Code::kCancelled, std::move(m)}; }
  static Error InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Error NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Error AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Error PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
  static Error ResourceExhausted(std::string m) { return {Code::kResourceExhausted, std::move(m)}; }
  static Error FailedPrecondition(std::string m) {
    return {Code::kFailedPrecondition, std::move(m)};
  }
  static Error Aborted(std::string m) { return {Code::kAborted, std::move(m)}; }
  static Error Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  static Error Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Error Unimplemented(std::string m) { return {Code::kUnimplemented, std::move(m)}; }
  static Error DataLoss(std::string m) { return {Code::kDataLoss, std::move(m)}; }
  static Error DeadlineExceeded(std::string m) { return {Code::kDeadlineExceeded, std::move(m)}; }
  static Error Unauthenticated(std::string m) { return {Code::kUnauthenticated, std::move(m)}; }

  // An error from a failed system call: ENOSPC/EDQUOT become kResourceExhausted,
  // EACCES/EPERM kPermissionDenied, ENOENT kNotFound, anything else kInternal.
  static Error FromErrno(int err, std::string_view what);

  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns this error with "what: " in front of its message.
  Error Context(std::string_view what) const {
    return {code_, std::string(what) + ": " + message_};
  }

 private:
  Code code_;
  std::string message_;
};

template <typename T>
using Result = tl::expected<T, Error>;
using Status = tl::expected<void, Error>;

inline tl::unexpected<Error> Fail(Error e) { return tl::unexpected<Error>(std::move(e)); }

}  // namespace backup

// Propagates the error of a Result-returning expression, adding context.
#define BACKUP_TRY(expr, what)                                                  \
  do {                                                                          \
    if (auto _r = (expr); !_r) return ::backup::Fail(_r.error().Context(what)); \
  } while (0)
