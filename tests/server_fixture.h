// A real backupd (BackupServer) on a loopback port over a temporary data directory, with
// stubs to talk to it. Tests may stop it and start it again on the same data.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "backup_jobs.grpc.pb.h"
#include "collection_repo.grpc.pb.h"
#include "server/backup_server.h"
#include "tests/test_util.h"

namespace backup::testing {

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(2); }
  void TearDown() override { StopServer(); }

  void StartServer(int workers);
  void StopServer();
  DataLayout layout() const { return DataLayout(dir_.path() / "data"); }

  // A call context with a deadline, carrying `token_` as a bearer token when set.
  std::unique_ptr<grpc::ClientContext> Ctx(int seconds = 30);
  // CreateCollection over gRPC, then `records` rows and `files` files of 1 KiB.
  void CreateCollection(const std::string& ns, const std::string& name, int records = 0,
                        int files = 0);
  // BackupCollection over gRPC; asserts success.
  collector::BackupCollectionResponse Backup(const std::string& ns, const std::string& name,
                                             bool files = false, const std::string& dest = "");
  // BackupCollection of ns/name into `store` ("": the default store), waiting for its end;
  // asserts the call succeeded.
  collector::BackupCollectionResponse BackupAndWait(const std::string& ns, const std::string& name,
                                                    const std::string& store, bool files);
  // RestoreBackup of `id` into ns/name, waiting for its end.
  grpc::Status RestoreAndWait(const std::string& id, const std::string& ns, const std::string& name,
                              collector::RestoreBackupResponse* response);
  // VerifyBackup of `id`, waiting for its end; asserts the call succeeded.
  collector::VerifyBackupResponse VerifyAndWait(const std::string& id, bool quick);
  // WatchJob to its end; returns every message.
  std::vector<collector::Job> Watch(const std::string& job_id);
  collector::Job GetJob(const std::string& job_id);

  TempDir dir_;
  BackupServerOptions options_;
  std::unique_ptr<BackupServer> server_;
  std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<collector::CollectionRepo::Stub> repo_;
  std::unique_ptr<collector::BackupJobs::Stub> jobs_;
};

}  // namespace backup::testing
