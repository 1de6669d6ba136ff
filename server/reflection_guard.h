// Server reflection lists every service and message of the API, so on a server with an
// auth file it answers authenticated callers only. The reflection plugin's handler cannot
// be wrapped, so this interceptor cancels a reflection call whose metadata carries no
// valid token before the handler answers (the caller sees CANCELLED). Other methods pass
// untouched: their handlers authenticate themselves (serve_call.h), health stays open.
// Thread-safety: gRPC creates one interceptor per call; the factory is shared.
#pragma once

#include <memory>

#include <grpcpp/support/server_interceptor.h>

#include "server/access_control.h"

namespace backup {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeReflectionGuard(
    const AccessControl& access);

}  // namespace backup
