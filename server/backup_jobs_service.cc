#include "server/backup_jobs_service.h"

#include <spdlog/spdlog.h>

#include "common/wire.h"
#include "server/grpc_status.h"
#include "server/request_checks.h"

namespace backup {
namespace {

Status ValidateJobId(const std::string& job_id) {
  if (job_id.empty()) return Fail(Error::InvalidArgument("job_id is required"));
  return {};
}

}  // namespace

grpc::Status BackupJobsService::GetJob(grpc::ServerContext*,
                                       const collector::GetJobRequest* request,
                                       collector::GetJobResponse* response) {
  if (auto s = ValidateJobId(request->job_id()); !s) return ToGrpc(s.error());
  auto job = ctx_.jobs->GetJob(request->job_id());
  if (!job) return ToGrpc(job.error());
  *response->mutable_status() = OkStatus();
  *response->mutable_job() = ToProto(*job);
  return grpc::Status::OK;
}

Status BackupJobsService::DoListJobs(const collector::ListJobsRequest& request,
                                     collector::ListJobsResponse& response) {
  JobQuery query;
  if (request.state() != collector::JOB_STATE_UNSPECIFIED) {
    query.state = static_cast<JobState>(request.state());
  }
  if (request.kind() != collector::JOB_KIND_UNSPECIFIED) {
    query.kind = static_cast<JobKind>(request.kind());
  }
  if (request.has_collection() &&
      !(request.collection().namespace_().empty() && request.collection().name().empty())) {
    CollectionName name = FromProto(request.collection());
    BACKUP_TRY(ValidateCollectionName(name), "list jobs");
    query.collection = name;
  }
  auto page_size = PageSize(request.page_size());
  if (!page_size) return Fail(page_size.error().Context("list jobs"));
  query.page_size = *page_size;
  query.page_token = request.page_token();
  auto page = ctx_.jobs->ListJobs(query);
  if (!page) return Fail(page.error().Context("list jobs"));
  *response.mutable_status() = OkStatus();
  for (const Job& j : page->jobs) *response.add_jobs() = ToProto(j);
  response.set_next_page_token(page->next_page_token);
  return {};
}

grpc::Status BackupJobsService::ListJobs(grpc::ServerContext*,
                                         const collector::ListJobsRequest* request,
                                         collector::ListJobsResponse* response) {
  return Answer(DoListJobs(*request, *response));
}

grpc::Status BackupJobsService::WatchJob(grpc::ServerContext* context,
                                         const collector::WatchJobRequest* request,
                                         grpc::ServerWriter<collector::Job>* writer) {
  if (auto s = ValidateJobId(request->job_id()); !s) return ToGrpc(s.error());
  bool client_gone = false;
  auto last = FollowJob(*ctx_.jobs, request->job_id(), *context, ctx_.wait, [&](const Job& job) {
    client_gone = !writer->Write(ToProto(job));
    return !client_gone;
  });
  if (!last) return ToGrpc(last.error());
  if (client_gone || context->IsCancelled())
    return grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled");
  if (!IsTerminal(last->state)) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "job " + last->id + " is still " + std::string(ToString(last->state)));
  }
  return grpc::Status::OK;
}

grpc::Status BackupJobsService::CancelJob(grpc::ServerContext*,
                                          const collector::CancelJobRequest* request,
                                          collector::CancelJobResponse* response) {
  if (auto s = ValidateJobId(request->job_id()); !s) return ToGrpc(s.error());
  auto job = ctx_.jobs->CancelJob(request->job_id());
  if (!job) return ToGrpc(job.error());
  spdlog::info("job={} collection={} cancel requested (state {})", job->id, job->collection.Key(),
               ToString(job->state));
  *response->mutable_status() = OkStatus();
  *response->mutable_job() = ToProto(*job);
  return grpc::Status::OK;
}

}  // namespace backup
