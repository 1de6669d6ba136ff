#include "server/backup_jobs_service.h"

#include <spdlog/spdlog.h>

#include "common/wire.h"
#include "server/follow_calls.h"
#include "server/grpc_status.h"
#include "server/request_checks.h"
#include "server/serve_call.h"

namespace backup {

grpc::Status BackupJobsService::GetJob(grpc::ServerContext* context,
                                       const collector::GetJobRequest* request,
                                       collector::GetJobResponse* response) {
  return ServeRead(ctx_, *context, [&](const Principal& who) -> Status {
    auto job = VisibleJob(ctx_, who, request->job_id(), Role::kViewer, "GetJob");
    if (!job) return Fail(job.error());
    *response->mutable_status() = OkStatus();
    *response->mutable_job() = ToProto(*job);
    return {};
  });
}

Status BackupJobsService::DoListJobs(const Principal& who,
                                     const collector::ListJobsRequest& request,
                                     collector::ListJobsResponse& response) {
  JobQuery query;
  if (!collector::JobState_IsValid(request.state()) ||
      !collector::JobKind_IsValid(request.kind())) {
    return Fail(Error::InvalidArgument("list jobs: unknown state " +
                                       std::to_string(request.state()) + " or kind " +
                                       std::to_string(request.kind())));
  }
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
    BACKUP_TRY(Require(who, Role::kViewer, name.ns, "ListJobs"), "list jobs");
    query.collection = name;
  }
  query.namespace_globs = VisibleNamespaces(who);
  auto page_size = PageSize(request.page_size());
  if (!page_size) return Fail(page_size.error().Context("list jobs"));
  query.page_size = *page_size;
  query.page_token = request.page_token();
  auto page = ctx_.jobs->ListJobs(query);
  if (!page) return Fail(page.error().Context("list jobs"));
  *response.mutable_status() = OkStatus();
  response.set_next_page_token(FillPage(
      page->jobs, page->next_page_token,
      [&](const Job& j) -> const collector::Job& { return *response.add_jobs() = ToProto(j); },
      [](const Job& j) { return std::to_string(j.seq); }));
  return {};
}

grpc::Status BackupJobsService::ListJobs(grpc::ServerContext* context,
                                         const collector::ListJobsRequest* request,
                                         collector::ListJobsResponse* response) {
  return ServeRead(ctx_, *context,
                   [&](const Principal& who) { return DoListJobs(who, *request, *response); });
}

grpc::ServerWriteReactor<collector::Job>* BackupJobsService::WatchJob(
    grpc::CallbackServerContext* context, const collector::WatchJobRequest* request) {
  return WatchStream::Start(ctx_, context, *request);
}

grpc::Status BackupJobsService::CancelJob(grpc::ServerContext* context,
                                          const collector::CancelJobRequest* request,
                                          collector::CancelJobResponse* response) {
  return ServeChange(
      ctx_, *context, "CancelJob",
      [&](const Principal& who) -> Status {
        auto visible = VisibleJob(ctx_, who, request->job_id(), Role::kOperator, "CancelJob");
        if (!visible) return Fail(visible.error());
        auto job = ctx_.jobs->CancelJob(request->job_id());
        if (!job) return Fail(job.error());
        spdlog::info("job={} collection={} cancel requested (state {})", job->id,
                     job->collection.Key(), ToString(job->state));
        *response->mutable_status() = OkStatus();
        *response->mutable_job() = ToProto(*job);
        return {};
      },
      [&] {
        const auto& c = response->job().collection();
        return AuditFields()
            .Add("job", request->job_id())
            .Add("collection", c.namespace_() + "/" + c.name());
      });
}

}  // namespace backup
