#include "server/reflection_guard.h"

#include <string_view>

#include <grpcpp/server_context.h>
#include <spdlog/spdlog.h>

namespace backup {
namespace {

constexpr std::string_view kReflectionPrefix = "/grpc.reflection.";

class ReflectionGuard final : public grpc::experimental::Interceptor {
 public:
  ReflectionGuard(const AccessControl& access, grpc::experimental::ServerRpcInfo* info)
      : access_(access), info_(info) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      auto* context = info_->server_context();
      auto who = access_.Authenticate(*methods->GetRecvInitialMetadata(),
                                      context->auth_context().get(), "");
      if (!who) {
        spdlog::warn("reflection refused: {}", who.error().message());
        context->TryCancel();
      }
    }
    methods->Proceed();
  }

 private:
  const AccessControl& access_;
  grpc::experimental::ServerRpcInfo* info_;
};

class ReflectionGuardFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit ReflectionGuardFactory(const AccessControl& access) : access_(access) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    if (!access_.enabled()) return nullptr;
    if (std::string_view(info->method()).rfind(kReflectionPrefix, 0) != 0) return nullptr;
    return new ReflectionGuard(access_, info);
  }

 private:
  const AccessControl& access_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeReflectionGuard(
    const AccessControl& access) {
  return std::make_unique<ReflectionGuardFactory>(access);
}

}  // namespace backup
