#include "tests/server_fixture.h"

namespace backup::testing {

void ServerTest::StartServer(int workers) {
  options_.host.data_dir = dir_.path() / "data";
  options_.listen = "127.0.0.1:0";
  options_.host.pool.threads = workers;
  options_.host.pool.lease_ms = 5'000;
  options_.host.pool.heartbeat_ms = 100;
  auto server = BackupServer::Start(options_);
  ASSERT_TRUE(server) << server.error().message();
  server_ = std::move(*server);
  channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                 grpc::InsecureChannelCredentials());
  repo_ = collector::CollectionRepo::NewStub(channel_);
  jobs_ = collector::BackupJobs::NewStub(channel_);
}

void ServerTest::StopServer() {
  if (server_) server_->Shutdown();
  server_.reset();
}

std::unique_ptr<grpc::ClientContext> ServerTest::Ctx(int seconds) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  if (!token_.empty()) ctx->AddMetadata("authorization", "Bearer " + token_);
  return ctx;
}

void ServerTest::CreateCollection(const std::string& ns, const std::string& name, int records,
                                  int files) {
  collector::CreateCollectionRequest request;
  request.mutable_collection()->set_namespace_(ns);
  request.mutable_collection()->set_name(name);
  collector::CreateCollectionResponse response;
  auto status = repo_->CreateCollection(Ctx().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.status().code(), collector::Status::OK);
  if (records > 0) FillRecords(layout().CollectionDb({ns, name}), records);
  if (files > 0) WriteFiles(layout().CollectionFilesDir({ns, name}), files, 1024);
}

collector::BackupCollectionResponse ServerTest::Backup(const std::string& ns,
                                                       const std::string& name, bool files,
                                                       const std::string& dest) {
  collector::BackupCollectionRequest request;
  request.set_wait(false);
  request.mutable_collection()->set_namespace_(ns);
  request.mutable_collection()->set_name(name);
  request.set_include_files(files);
  request.set_dest_path(dest);
  collector::BackupCollectionResponse response;
  auto status = repo_->BackupCollection(Ctx().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

collector::BackupCollectionResponse ServerTest::BackupAndWait(const std::string& ns,
                                                              const std::string& name,
                                                              const std::string& store,
                                                              bool files) {
  collector::BackupCollectionRequest request;
  request.mutable_collection()->set_namespace_(ns);
  request.mutable_collection()->set_name(name);
  request.set_include_files(files);
  request.set_store(store);
  request.set_wait(true);
  collector::BackupCollectionResponse response;
  auto status = repo_->BackupCollection(Ctx(60).get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

grpc::Status ServerTest::RestoreAndWait(const std::string& id, const std::string& ns,
                                        const std::string& name,
                                        collector::RestoreBackupResponse* response) {
  collector::RestoreBackupRequest request;
  request.set_backup_id(id);
  request.set_dest_namespace(ns);
  request.set_dest_name(name);
  request.set_wait(true);
  return repo_->RestoreBackup(Ctx(60).get(), request, response);
}

collector::VerifyBackupResponse ServerTest::VerifyAndWait(const std::string& id, bool quick) {
  collector::VerifyBackupRequest request;
  request.set_backup_id(id);
  request.set_quick(quick);
  request.set_wait(true);
  collector::VerifyBackupResponse response;
  auto status = repo_->VerifyBackup(Ctx(60).get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

std::vector<collector::Job> ServerTest::Watch(const std::string& job_id) {
  auto ctx = Ctx(120);
  collector::WatchJobRequest request;
  request.set_job_id(job_id);
  auto reader = jobs_->WatchJob(ctx.get(), request);
  std::vector<collector::Job> seen;
  collector::Job job;
  while (reader->Read(&job)) seen.push_back(job);
  auto status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  return seen;
}

collector::Job ServerTest::GetJob(const std::string& job_id) {
  collector::GetJobRequest request;
  request.set_job_id(job_id);
  collector::GetJobResponse response;
  auto status = jobs_->GetJob(Ctx().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.job();
}

}  // namespace backup::testing
