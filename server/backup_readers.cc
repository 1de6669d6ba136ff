// RestoreBackup and VerifyBackup: jobs that read an existing backup.
#include <system_error>

#include <spdlog/spdlog.h>

#include "common/ids.h"
#include "common/wire.h"
#include "control/node_routing.h"
#include "server/collection_repo_service.h"
#include "server/follow_calls.h"
#include "server/grpc_status.h"
#include "server/job_submission.h"
#include "server/request_checks.h"
#include "server/serve_call.h"

namespace backup {
namespace fs = std::filesystem;

namespace {

Status ValidateBackupId(const std::string& id) {
  if (id.empty()) return Fail(Error::InvalidArgument("backup_id is required"));
  if (id.size() > 64 || id.rfind("backup-", 0) != 0) {
    return Fail(
        Error::InvalidArgument("backup_id \"" + id.substr(0, 64) + "\" is not a backup id"));
  }
  return {};
}

}  // namespace

Result<Job> CollectionRepoService::EnqueueReader(const Principal& who, JobKind kind,
                                                 const CollectionName& collection,
                                                 const std::string& backup_id,
                                                 const google::protobuf::Message& request,
                                                 const std::string& idempotency_key,
                                                 const std::string& node) {
  auto submitted =
      SubmitOnce(*ctx_.jobs, request, idempotency_key, [&](const std::string& hash) -> Result<Job> {
        Job job;
        job.id = NewJobId();
        job.kind = kind;
        job.collection = collection;
        job.backup_id = backup_id;
        job.params = request.SerializeAsString();
        job.max_attempts = ctx_.default_max_attempts;
        job.created_at_ms = ctx_.jobs->clock().NowMs();
        job.idempotency_key = idempotency_key;
        job.request_hash = hash;
        job.submitted_by = who.name;
        job.node = node;
        BACKUP_TRY(ctx_.catalog->EnqueueBackupReader(job),
                   "enqueue " + std::string(ToString(kind)));
        spdlog::info("job={} collection={} backup={} {} queued", job.id, collection.Key(),
                     backup_id, ToString(kind));
        return job;
      });
  if (!submitted) return Fail(submitted.error());
  return ctx_.jobs->GetJob(submitted->job.id);
}

Result<Job> CollectionRepoService::SubmitRestore(const Principal& who,
                                                 const collector::RestoreBackupRequest& request,
                                                 collector::RestoreBackupResponse& response) {
  BACKUP_TRY(ValidateBackupId(request.backup_id()), "restore");
  BACKUP_TRY(RefuseReservedKey(request.idempotency_key()), "restore");
  CollectionName dest{request.dest_namespace(), request.dest_name()};
  BACKUP_TRY(ValidateName(dest.ns, "dest_namespace"), "restore");
  BACKUP_TRY(ValidateName(dest.name, "dest_name"), "restore");
  auto backup = ctx_.catalog->GetBackup(request.backup_id());
  if (!backup) return Fail(backup.error().Context("restore"));
  // Reading the backup out and replacing the destination each need the right.
  BACKUP_TRY(Require(who, Role::kAdmin, backup->collection.ns, "RestoreBackup"), "restore");
  BACKUP_TRY(Require(who, Role::kAdmin, dest.ns, "RestoreBackup"), "restore");
  bool repeated = false;  // a retried submission answers with its job, not ALREADY_EXISTS
  if (!request.idempotency_key().empty()) {
    auto found = ctx_.jobs->FindByIdempotencyKey(request.idempotency_key());
    repeated = found && found->has_value();
  }
  auto existing = ctx_.catalog->GetCollection(dest);
  if (!existing && existing.error().code() != Code::kNotFound) {
    return Fail(existing.error().Context("restore"));
  }
  if (!request.overwrite() && !repeated) {
    std::error_code ec;
    if (existing || fs::exists(ctx_.layout.CollectionDb(dest), ec)) {
      return Fail(Error::AlreadyExists("restore: collection " + dest.Key() +
                                       " already exists; set overwrite to replace it"));
    }
  }
  auto node = RestoreJobNode(*backup, existing ? &*existing : nullptr, ctx_.node);
  if (!node) return Fail(node.error().Context("restore"));
  auto job = EnqueueReader(who, JobKind::kRestore, dest, request.backup_id(), request,
                           request.idempotency_key(), *node);
  if (!job) return Fail(job.error());
  *response.mutable_status() = OkStatus();
  response.set_collection_id(dest.Key());
  return job;
}

Result<Job> CollectionRepoService::SubmitVerify(const Principal& who,
                                                const collector::VerifyBackupRequest& request,
                                                collector::VerifyBackupResponse& response) {
  BACKUP_TRY(ValidateBackupId(request.backup_id()), "verify");
  BACKUP_TRY(RefuseReservedKey(request.idempotency_key()), "verify");
  auto backup = ctx_.catalog->GetBackup(request.backup_id());
  if (!backup) return Fail(backup.error().Context("verify"));
  BACKUP_TRY(Require(who, Role::kOperator, backup->collection.ns, "VerifyBackup"), "verify");
  auto job = EnqueueReader(who, JobKind::kVerify, backup->collection, backup->id, request,
                           request.idempotency_key(), ReaderJobNode(*backup));
  if (!job) return Fail(job.error());
  *response.mutable_status() = OkStatus();
  *response.mutable_backup() = ToProto(*backup);
  return job;
}

grpc::ServerUnaryReactor* CollectionRepoService::RestoreBackup(
    grpc::CallbackServerContext* context, const collector::RestoreBackupRequest* request,
    collector::RestoreBackupResponse* response) {
  return SubmissionCall::Start(
      ctx_, context,
      {.call = "RestoreBackup",
       .when = When(*request),
       .submit = [this, request, response](
                     const Principal& who) { return SubmitRestore(who, *request, *response); },
       .answer = AnswerInto(*response, &collector::Job::restore_result),
       .describe =
           [request, response] {
             return AuditFields()
                 .Add("backup", request->backup_id())
                 .Add("collection", request->dest_namespace() + "/" + request->dest_name())
                 .Add("overwrite", request->overwrite() ? "true" : "false")
                 .Add("job", response->job().job_id());
           }});
}

grpc::ServerUnaryReactor* CollectionRepoService::VerifyBackup(
    grpc::CallbackServerContext* context, const collector::VerifyBackupRequest* request,
    collector::VerifyBackupResponse* response) {
  return SubmissionCall::Start(
      ctx_, context,
      {.call = "VerifyBackup",
       .when = When(*request),
       .submit = [this, request, response](
                     const Principal& who) { return SubmitVerify(who, *request, *response); },
       .answer = AnswerInto(*response, &collector::Job::verify_result),
       .describe =
           [request, response] {
             return AuditFields()
                 .Add("backup", request->backup_id())
                 .Add("job", response->job().job_id());
           }});
}

}  // namespace backup
