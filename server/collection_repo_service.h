// collector.CollectionRepo: the registry (CreateCollection, Discover) and the Collector
// Backup API. BackupCollection validates, writes the job and the pending backup row in
// one transaction, and answers at once (or, with `wait`, when the job ends). Errors
// become gRPC statuses in one place (ToGrpc); successful bodies carry Status OK.
// Thread-safety: all methods are called concurrently by gRPC's threads.
#pragma once

#include "collection_repo.grpc.pb.h"
#include "server/job_submission.h"
#include "server/service_context.h"

namespace backup {

class CollectionRepoService final : public collector::CollectionRepo::Service {
 public:
  explicit CollectionRepoService(const ServiceContext& ctx) : ctx_(ctx) {}

  grpc::Status CreateCollection(grpc::ServerContext*, const collector::CreateCollectionRequest*,
                                collector::CreateCollectionResponse*) override;
  grpc::Status Discover(grpc::ServerContext*, const collector::DiscoverRequest*,
                        collector::DiscoverResponse*) override;
  grpc::Status BackupCollection(grpc::ServerContext*, const collector::BackupCollectionRequest*,
                                collector::BackupCollectionResponse*) override;
  grpc::Status ListBackups(grpc::ServerContext*, const collector::ListBackupsRequest*,
                           collector::ListBackupsResponse*) override;
  grpc::Status RestoreBackup(grpc::ServerContext*, const collector::RestoreBackupRequest*,
                             collector::RestoreBackupResponse*) override;
  grpc::Status VerifyBackup(grpc::ServerContext*, const collector::VerifyBackupRequest*,
                            collector::VerifyBackupResponse*) override;
  grpc::Status DeleteBackup(grpc::ServerContext*, const collector::DeleteBackupRequest*,
                            collector::DeleteBackupResponse*) override;

 private:
  Status DoCreateCollection(const Principal& who, const collector::CreateCollectionRequest& request,
                            collector::CreateCollectionResponse& response);
  Status DoDiscover(const Principal& who, const collector::DiscoverRequest& request,
                    collector::DiscoverResponse& response);
  Status DoBackupCollection(const Principal& who, grpc::ServerContext& context,
                            const collector::BackupCollectionRequest& request,
                            collector::BackupCollectionResponse& response);
  // Builds and enqueues a backup job with its PENDING row (returned in `backup`).
  Result<Job> EnqueueBackup(const Principal& who, const collector::BackupCollectionRequest& request,
                            const CollectionName& name, const std::string& request_hash,
                            BackupRecord& backup);
  Status DoListBackups(const Principal& who, const collector::ListBackupsRequest& request,
                       collector::ListBackupsResponse& response);
  Status DoRestoreBackup(const Principal& who, grpc::ServerContext& context,
                         const collector::RestoreBackupRequest& request,
                         collector::RestoreBackupResponse& response);
  Status DoVerifyBackup(const Principal& who, grpc::ServerContext& context,
                        const collector::VerifyBackupRequest& request,
                        collector::VerifyBackupResponse& response);
  Status DoDeleteBackup(const Principal& who, const collector::DeleteBackupRequest& request,
                        collector::DeleteBackupResponse& response);
  // Builds, enqueues (checking the backup is COMPLETED) and returns a restore or verify job.
  // Returns the original job for a repeated idempotency key.
  Result<Job> EnqueueReader(const Principal& who, JobKind kind, const CollectionName& collection,
                            const std::string& backup_id, const google::protobuf::Message& request,
                            const std::string& idempotency_key);

  // When to answer a submission, from its optional `wait` and the server's default.
  template <typename Request>
  AnswerWhen When(const Request& request) const {
    return AnswerWhenFor(request.has_wait(), request.wait(), ctx_.wait_by_default);
  }

  const ServiceContext& ctx_;
};

}  // namespace backup
