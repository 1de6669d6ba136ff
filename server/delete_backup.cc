// DeleteBackup: synchronous. The row is marked DELETING before any file goes, so a row
// never points at a missing file without saying so, and a repeated delete finishes an
// interrupted one. A backup on another node's disk (a fleet) is removed there by a DELETE
// job, which the call waits for.
#include <algorithm>

#include "common/wire.h"
#include "server/collection_repo_service.h"
#include "server/grpc_status.h"
#include "server/request_checks.h"
#include "server/serve_call.h"
#include "worker/backup_removal.h"

namespace backup {

Status CollectionRepoService::DoDeleteBackup(const Principal& who,
                                             const collector::DeleteBackupRequest& request,
                                             std::chrono::system_clock::time_point deadline,
                                             collector::DeleteBackupResponse& response) {
  if (request.backup_id().empty())
    return Fail(Error::InvalidArgument("delete: backup_id is required"));
  if (request.backup_id().size() > 64) {
    return Fail(Error::InvalidArgument("delete: backup_id \"" + request.backup_id().substr(0, 64) +
                                       "...\" is not a backup id"));
  }
  auto existing = ctx_.catalog->GetBackup(request.backup_id());
  if (!existing) return Fail(existing.error().Context("delete"));
  BACKUP_TRY(Require(who, Role::kAdmin, existing->collection.ns, "DeleteBackup"), "delete");
  if (!ReachableFrom(*existing, ctx_.node)) {
    return DeleteOnItsNode(who, *existing, deadline, response);
  }
  auto freed = RemoveBackup(*ctx_.catalog, *ctx_.stores, ctx_.backup_roots, request.backup_id());
  if (!freed) return Fail(freed.error().Context("delete"));
  *response.mutable_status() = OkStatus();
  response.set_bytes_freed(*freed);
  return {};
}

Status CollectionRepoService::DeleteOnItsNode(const Principal& who, const BackupRecord& backup,
                                              std::chrono::system_clock::time_point call_deadline,
                                              collector::DeleteBackupResponse& response) {
  using std::chrono::milliseconds;
  // Answer a little before the caller gives up, so it reads why.
  const auto until_call_ends = std::chrono::duration_cast<milliseconds>(
      call_deadline - std::chrono::system_clock::now() - milliseconds(250));
  const int64_t wait_ms = std::clamp<int64_t>(until_call_ends.count(), 0, 60'000);
  auto job = QueueDeleteOnItsNode(*ctx_.catalog, backup, who.name, ctx_.jobs->clock().NowMs());
  if (!job) return Fail(job.error());
  const int64_t deadline = ctx_.jobs->clock().NowMs() + wait_ms;
  for (;;) {
    const uint64_t seen = ctx_.jobs->ChangeVersion();
    auto current = ctx_.jobs->GetJob(job->id);
    if (!current) return Fail(current.error().Context("delete"));
    if (current->state == JobState::kSucceeded) {
      collector::DeleteBackupResponse result;
      result.ParseFromString(current->result);
      *response.mutable_status() = OkStatus();
      response.set_bytes_freed(result.bytes_freed());
      return {};
    }
    if (IsTerminal(current->state)) {
      return Fail(current->error.value_or(Error::Internal("delete job ended without an error"))
                      .Context("delete " + backup.id + " on node " + backup.node));
    }
    const int64_t left = deadline - ctx_.jobs->clock().NowMs();
    if (left <= 0) {
      return Fail(Error(Code::kDeadlineExceeded,
                        "delete: backup " + backup.id + " is on node " + backup.node +
                            "'s disk; its DELETE job " + job->id + " has not ended there within " +
                            std::to_string(wait_ms / 1000) +
                            " s (is a worker running on that node?); it stays queued, and GetJob "
                            "follows it"));
    }
    ctx_.jobs->WaitForChange(seen, std::min<int64_t>(left, 1000));
  }
}

grpc::Status CollectionRepoService::DeleteBackup(grpc::ServerContext* context,
                                                 const collector::DeleteBackupRequest* request,
                                                 collector::DeleteBackupResponse* response) {
  return ServeChange(
      ctx_, *context, "DeleteBackup",
      [&](const Principal& who) {
        return DoDeleteBackup(who, *request, context->deadline(), *response);
      },
      [&] {
        return AuditFields()
            .Add("backup", request->backup_id())
            .Add("bytes_freed", std::to_string(response->bytes_freed()));
      });
}

}  // namespace backup
