// collector.CollectionRepo: the registry (CreateCollection, Discover) and the Collector
// Backup API. BackupCollection validates, writes the job and the pending backup row in
// one transaction, and answers at once (or, with `wait`, when the job ends). Errors
// become gRPC statuses in one place (ToGrpc); successful bodies carry Status OK.
// Thread-safety: all methods are called concurrently by gRPC's threads.
#pragma once

#include <chrono>

#include "collection_repo.grpc.pb.h"
#include "server/job_submission.h"
#include "server/service_context.h"

namespace backup {

// The job-submitting calls run on gRPC's callback API: a call waiting for its job holds
// no thread (SubmissionCall). The rest are synchronous.
using CollectionRepoBase = collector::CollectionRepo::WithCallbackMethod_BackupCollection<
    collector::CollectionRepo::WithCallbackMethod_RestoreBackup<
        collector::CollectionRepo::WithCallbackMethod_VerifyBackup<
            collector::CollectionRepo::Service>>>;

class CollectionRepoService final : public CollectionRepoBase {
 public:
  explicit CollectionRepoService(const ServiceContext& ctx) : ctx_(ctx) {}

  grpc::Status CreateCollection(grpc::ServerContext*, const collector::CreateCollectionRequest*,
                                collector::CreateCollectionResponse*) override;
  grpc::Status Discover(grpc::ServerContext*, const collector::DiscoverRequest*,
                        collector::DiscoverResponse*) override;
  grpc::ServerUnaryReactor* BackupCollection(grpc::CallbackServerContext*,
                                             const collector::BackupCollectionRequest*,
                                             collector::BackupCollectionResponse*) override;
  grpc::Status ListBackups(grpc::ServerContext*, const collector::ListBackupsRequest*,
                           collector::ListBackupsResponse*) override;
  grpc::ServerUnaryReactor* RestoreBackup(grpc::CallbackServerContext*,
                                          const collector::RestoreBackupRequest*,
                                          collector::RestoreBackupResponse*) override;
  grpc::ServerUnaryReactor* VerifyBackup(grpc::CallbackServerContext*,
                                         const collector::VerifyBackupRequest*,
                                         collector::VerifyBackupResponse*) override;
  grpc::Status DeleteBackup(grpc::ServerContext*, const collector::DeleteBackupRequest*,
                            collector::DeleteBackupResponse*) override;

 private:
  Status DoCreateCollection(const Principal& who, const collector::CreateCollectionRequest& request,
                            collector::CreateCollectionResponse& response);
  Status DoDiscover(const Principal& who, const collector::DiscoverRequest& request,
                    collector::DiscoverResponse& response);
  // The job-submitting calls' work (on the call pool): validate, check the caller's
  // rights, write the job and fill the response's own fields; the job is the answer's.
  Result<Job> SubmitBackup(const Principal& who, const collector::BackupCollectionRequest& request,
                           collector::BackupCollectionResponse& response);
  // Builds and enqueues a backup job with its PENDING row (returned in `backup`).
  Status PlaceBackup(const collector::BackupCollectionRequest& request, const CollectionName& name,
                     const std::string& backup_id, BackupRecord& backup) const;
  Result<Job> EnqueueBackup(const Principal& who, const collector::BackupCollectionRequest& request,
                            const CollectionName& name, const std::string& request_hash,
                            BackupRecord& backup);
  Status DoListBackups(const Principal& who, const collector::ListBackupsRequest& request,
                       collector::ListBackupsResponse& response);
  Result<Job> SubmitRestore(const Principal& who, const collector::RestoreBackupRequest& request,
                            collector::RestoreBackupResponse& response);
  Result<Job> SubmitVerify(const Principal& who, const collector::VerifyBackupRequest& request,
                           collector::VerifyBackupResponse& response);
  // DeleteBackup of a backup on another node's disk: queues its DELETE job there and
  // waits for it to end, at most a minute and never past the call's `deadline`.
  Status DeleteOnItsNode(const Principal& who, const BackupRecord& backup,
                         std::chrono::system_clock::time_point deadline,
                         collector::DeleteBackupResponse& response);
  Status DoDeleteBackup(const Principal& who, const collector::DeleteBackupRequest& request,
                        std::chrono::system_clock::time_point deadline,
                        collector::DeleteBackupResponse& response);
  // Builds, enqueues (checking the backup is COMPLETED) and returns a restore or verify job.
  // Returns the original job for a repeated idempotency key.
  Result<Job> EnqueueReader(const Principal& who, JobKind kind, const CollectionName& collection,
                            const std::string& backup_id, const google::protobuf::Message& request,
                            const std::string& idempotency_key, const std::string& node);

  // When to answer a submission, from its optional `wait` and the server's default.
  template <typename Request>
  AnswerWhen When(const Request& request) const {
    return AnswerWhenFor(request.has_wait(), request.wait(), ctx_.wait_by_default);
  }

  const ServiceContext& ctx_;
};

}  // namespace backup
