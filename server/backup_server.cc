#include "server/backup_server.h"

#include <algorithm>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include "server/reflection_guard.h"

namespace backup {
namespace {

// A server reachable from other hosts must authenticate callers and encrypt the traffic,
// unless the operator says otherwise.
Status CheckExposure(const BackupServerOptions& o) {
  if (IsLoopbackAddress(o.listen)) return {};
  if (o.tls.enabled() && o.auth_file) return {};
  if (o.insecure) {
    spdlog::warn(
        "backupd: serving {} without {} (--insecure): anyone who reaches the port "
        "can restore over and delete every collection",
        o.listen, o.tls.enabled() ? "an auth file" : "TLS");
    return {};
  }
  return Fail(Error::FailedPrecondition(
      "refusing to serve " + o.listen +
      ", which is not a loopback address, without TLS and an auth file (--tls-cert, "
      "--tls-key, --auth-file); pass --insecure to do so anyway"));
}

}  // namespace

Result<std::unique_ptr<BackupServer>> BackupServer::Start(BackupServerOptions options) {
  std::unique_ptr<BackupServer> s(new BackupServer());
  s->options_ = std::move(options);
  BACKUP_TRY(CheckExposure(s->options_), "backupd");
  auto credentials = MakeServerCredentials(s->options_.tls);
  if (!credentials) return Fail(credentials.error());
  auto access = AccessControl::Open(s->options_.auth_file);
  if (!access) return Fail(access.error());
  s->access_ = std::move(*access);
  s->options_.host.policies.max_attempts = s->options_.default_max_attempts;
  auto host = WorkerHost::Open(s->options_.host);
  if (!host) return Fail(host.error());
  s->host_ = std::move(*host);

  s->context_.access = s->access_.get();
  s->context_.jobs = &s->host_->jobs();
  s->context_.catalog = &s->host_->catalog();
  s->context_.policies = &s->host_->policies();
  s->context_.layout = s->host_->layout();
  s->context_.backup_roots = s->host_->backup_roots();
  s->context_.node = s->host_->node();
  s->context_.stores = &s->host_->stores();
  s->context_.default_max_attempts = s->options_.default_max_attempts;
  s->hub_ = std::make_unique<JobWatchHub>(s->host_->jobs(), s->options_.watch);
  s->call_pool_ = std::make_unique<asio::thread_pool>(
      static_cast<size_t>(std::max(1, s->options_.call_threads)));
  s->context_.hub = s->hub_.get();
  s->context_.call_pool = s->call_pool_.get();
  s->context_.wait_by_default = s->options_.wait_by_default;
  s->repo_service_ = std::make_unique<CollectionRepoService>(s->context_);
  s->jobs_service_ = std::make_unique<BackupJobsService>(s->context_);
  s->policies_service_ = std::make_unique<BackupPoliciesService>(s->context_);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(s->options_.listen, *credentials, &s->port_);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> guards;
  guards.push_back(MakeReflectionGuard(*s->access_));
  builder.experimental().SetInterceptorCreators(std::move(guards));
  builder.RegisterService(s->repo_service_.get());
  builder.RegisterService(s->jobs_service_.get());
  builder.RegisterService(s->policies_service_.get());
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || s->port_ == 0) {
    return Fail(Error::Unavailable("cannot listen on " + s->options_.listen));
  }
  BACKUP_TRY(s->ServeHttp(), "backupd");
  s->host_->StartPool();
  spdlog::info("backupd serving on port {} (data {}, {} worker threads, {}{}, {})", s->port_,
               s->host_->layout().root().string(), s->options_.host.pool.threads,
               s->options_.tls.enabled() ? "TLS" : "plaintext",
               s->options_.tls.client_ca_file.empty() ? "" : " with client certificates",
               s->access_->enabled() ? "bearer tokens" : "no authentication");
  return s;
}

Status BackupServer::ServeHttp() {
  dashboard_ = std::make_unique<Dashboard>(context_);
  // The gRPC port's rule: beyond loopback only with TLS and tokens, or when told to.
  const bool exposed_ok = (options_.tls.enabled() && options_.auth_file) || options_.insecure;
  return host_->ServeHttp(
      dashboard_->Routes(),
      [dashboard = dashboard_.get()](HttpHandler h) { return dashboard->Guard(std::move(h)); },
      {.tls_cert = options_.tls.cert_file, .tls_key = options_.tls.key_file},
      /*loopback_only=*/!exposed_ok);
}

void BackupServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  spdlog::info("backupd shutting down");
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(options_.shutdown_deadline_ms));
  }
  if (call_pool_) call_pool_->join();  // no call is left to start work: the server is down
  if (hub_) hub_->Stop();
  if (host_) host_->Stop();
}

void BackupServer::Wait() {
  if (server_) server_->Wait();
}

BackupServer::~BackupServer() { Shutdown(); }

}  // namespace backup
