// DeleteBackup: synchronous. The row is marked DELETING before any file goes, so a row
// never points at a missing file without saying so, and a repeated delete finishes an
// interrupted one.
#include "common/wire.h"
#include "server/collection_repo_service.h"
#include "server/grpc_status.h"
#include "server/request_checks.h"
#include "server/serve_call.h"
#include "worker/backup_removal.h"

namespace backup {

Status CollectionRepoService::DoDeleteBackup(const Principal& who,
                                             const collector::DeleteBackupRequest& request,
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
  auto freed = RemoveBackup(*ctx_.catalog, *ctx_.stores, ctx_.backup_roots, request.backup_id());
  if (!freed) return Fail(freed.error().Context("delete"));
  *response.mutable_status() = OkStatus();
  response.set_bytes_freed(*freed);
  return {};
}

grpc::Status CollectionRepoService::DeleteBackup(grpc::ServerContext* context,
                                                 const collector::DeleteBackupRequest* request,
                                                 collector::DeleteBackupResponse* response) {
  return ServeChange(
      ctx_, *context, "DeleteBackup",
      [&](const Principal& who) { return DoDeleteBackup(who, *request, *response); },
      [&] {
        return AuditFields()
            .Add("backup", request->backup_id())
            .Add("bytes_freed", std::to_string(response->bytes_freed()));
      });
}

}  // namespace backup
