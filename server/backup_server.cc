#include "server/backup_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "worker/restore_job.h"
#include "worker/worker_setup.h"

namespace backup {
namespace fs = std::filesystem;

Result<std::unique_ptr<BackupServer>> BackupServer::Start(BackupServerOptions options) {
  std::unique_ptr<BackupServer> s(new BackupServer());
  s->options_ = std::move(options);
  DataLayout layout(s->options_.data_dir);
  BACKUP_TRY(CreateDirs(layout.root()), "data directory");
  auto roots = BackupRoots(layout, s->options_.extra_backup_roots);
  if (!roots) return Fail(roots.error());
  auto store = ControlStore::Open({.path = layout.ControlDb().string()});
  if (!store) return Fail(store.error());
  s->store_ = std::move(*store);
  auto watcher = ChangeWatcher::Start(*s->store_, layout.ControlDb());
  if (watcher) {
    s->watcher_ = std::move(*watcher);
  } else {
    spdlog::warn("changes by other processes will be seen by polling only: {}", watcher.error().message());
  }

  s->context_.store = s->store_.get();
  s->context_.layout = layout;
  s->context_.backup_roots = *roots;
  s->context_.default_max_attempts = s->options_.default_max_attempts;
  s->context_.wait = s->options_.wait;
  s->repo_service_ = std::make_unique<CollectionRepoService>(s->context_);
  s->jobs_service_ = std::make_unique<BackupJobsService>(s->context_);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(s->options_.listen, grpc::InsecureServerCredentials(), &s->port_);
  builder.RegisterService(s->repo_service_.get());
  builder.RegisterService(s->jobs_service_.get());
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || s->port_ == 0) {
    return Fail(Error::Unavailable("cannot listen on " + s->options_.listen));
  }
  if (auto swept = SweepRestoreLeftovers(*s->store_, layout); !swept) {
    spdlog::warn("sweep of restore leftovers: {}", swept.error().message());
  }
  s->pool_ = MakeWorkerPool(*s->store_, s->options_.worker, layout, *roots);
  s->pool_->Start();
  spdlog::info("backupd serving on port {} (data {}, {} worker threads)", s->port_,
               layout.root().string(), s->options_.worker.threads);
  return s;
}

void BackupServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  spdlog::info("backupd shutting down");
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(options_.shutdown_deadline_ms));
  }
  if (pool_) pool_->Stop();
}

void BackupServer::Wait() {
  if (server_) server_->Wait();
}

BackupServer::~BackupServer() { Shutdown(); }

}  // namespace backup
