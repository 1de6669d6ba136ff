// The one place where an Error becomes a grpc::Status. Error codes follow the Collector
// API's Status.Code enum, which is gRPC's list without DEADLINE_EXCEEDED (and so numbered
// differently from NOT_FOUND on): the mapping is by name, not by number.
#pragma once

#include <grpcpp/support/status.h>

#include "common/error.h"

namespace backup {

inline grpc::StatusCode ToGrpcCode(Code code) {
  switch (code) {
    case Code::kOk:
      return grpc::StatusCode::OK;
    case Code::kCancelled:
      return grpc::StatusCode::CANCELLED;
    case Code::kUnknown:
      return grpc::StatusCode::UNKNOWN;
    case Code::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case Code::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case Code::kAlreadyExists:
      return grpc::StatusCode::ALREADY_EXISTS;
    case Code::kPermissionDenied:
      return grpc::StatusCode::PERMISSION_DENIED;
    case Code::kResourceExhausted:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case Code::kFailedPrecondition:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case Code::kAborted:
      return grpc::StatusCode::ABORTED;
    case Code::kOutOfRange:
      return grpc::StatusCode::OUT_OF_RANGE;
    case Code::kUnimplemented:
      return grpc::StatusCode::UNIMPLEMENTED;
    case Code::kInternal:
      return grpc::StatusCode::INTERNAL;
    case Code::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case Code::kDataLoss:
      return grpc::StatusCode::DATA_LOSS;
    case Code::kDeadlineExceeded:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case Code::kUnauthenticated:
      return grpc::StatusCode::UNAUTHENTICATED;
  }
  return grpc::StatusCode::UNKNOWN;
}

inline grpc::Status ToGrpc(const Error& error) {
  return grpc::Status(ToGrpcCode(error.code()), error.message());
}

// The answer of an RPC whose work returned `s`.
inline grpc::Status Answer(const Status& s) { return s ? grpc::Status::OK : ToGrpc(s.error()); }

}  // namespace backup
