// The one place where an Error becomes a grpc::Status (the codes share one space).
#pragma once

#include <grpcpp/support/status.h>

#include "common/error.h"

namespace backup {

inline grpc::Status ToGrpc(const Error& error) {
  return grpc::Status(static_cast<grpc::StatusCode>(error.code()), error.message());
}

}  // namespace backup

namespace backup {

// The answer of an RPC whose work returned `s`.
inline grpc::Status Answer(const Status& s) { return s ? grpc::Status::OK : ToGrpc(s.error()); }

}  // namespace backup
