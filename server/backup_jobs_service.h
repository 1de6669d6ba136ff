// collector.BackupJobs: polling (GetJob, ListJobs), streaming (WatchJob) and
// cancellation (CancelJob) of the jobs behind backups, restores and verifies.
// Thread-safety: all methods are called concurrently by gRPC's threads.
#pragma once

#include "backup_jobs.grpc.pb.h"
#include "server/access_control.h"
#include "server/service_context.h"

namespace backup {

// WatchJob runs on gRPC's callback API (a stream holds no thread); the rest are synchronous.
class BackupJobsService final
    : public collector::BackupJobs::WithCallbackMethod_WatchJob<collector::BackupJobs::Service> {
 public:
  explicit BackupJobsService(const ServiceContext& ctx) : ctx_(ctx) {}

  grpc::Status GetJob(grpc::ServerContext*, const collector::GetJobRequest*,
                      collector::GetJobResponse*) override;
  grpc::Status ListJobs(grpc::ServerContext*, const collector::ListJobsRequest*,
                        collector::ListJobsResponse*) override;
  grpc::ServerWriteReactor<collector::Job>* WatchJob(grpc::CallbackServerContext*,
                                                     const collector::WatchJobRequest*) override;
  grpc::Status CancelJob(grpc::ServerContext*, const collector::CancelJobRequest*,
                         collector::CancelJobResponse*) override;

 private:
  Status DoListJobs(const Principal& who, const collector::ListJobsRequest& request,
                    collector::ListJobsResponse& response);

  const ServiceContext& ctx_;
};

}  // namespace backup
