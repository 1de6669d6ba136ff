// BackupCollection (enqueue, optionally wait) and ListBackups.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <system_error>

#include <spdlog/spdlog.h>

#include "common/backup_paths.h"
#include "common/beneath.h"
#include "common/ids.h"
#include "common/wire.h"
#include "server/collection_repo_service.h"
#include "server/follow_calls.h"
#include "server/grpc_status.h"
#include "server/job_submission.h"
#include "server/request_checks.h"
#include "server/serve_call.h"
#include "worker/backup_enqueue.h"

namespace backup {
namespace fs = std::filesystem;

namespace {

// The destination of a new backup: the default location, or `dest_path` confined to the
// backup roots (a folder, existing or ending in '/', receives "<backup_id>.db").
Result<fs::path> ResolveDestination(const ServiceContext& ctx, const CollectionName& c,
                                    const std::string& dest_path, const std::string& backup_id) {
  // The default location goes through the same check: a symlinked namespace folder
  // inside the default root cannot lead out of it either.
  const std::string requested =
      dest_path.empty() ? ctx.layout.DefaultBackupPath(c, backup_id).string() : dest_path;
  auto resolved = ConfinePath(requested, ctx.backup_roots);
  if (!resolved) return Fail(resolved.error().Context("dest_path"));
  std::error_code ec;
  if (requested.back() == '/' || fs::is_directory(*resolved, ec)) {
    *resolved /= backup_id + ".db";
  }
  for (const fs::path& root : ctx.backup_roots) {
    if (auto rel = RelativeInside(*resolved, root); rel) {
      BACKUP_TRY(BackupPaths::CheckClaimable(*rel), "backup");
      break;
    }
  }
  if (fs::exists(fs::symlink_status(*resolved, ec))) {
    return Fail(Error::AlreadyExists("dest_path " + resolved->string() + " already exists"));
  }
  return resolved;
}

// A ListBackups page: at most this many backups (and no more than kMaxPageBytes).
constexpr int kMaxBackupsPage = 1000;

// "<timestamp>.<created_at_ms>.<backup_id>" of the last backup on the page.
std::string EncodeBackupsPageToken(const BackupRecord& last) {
  return std::to_string(last.timestamp) + "." + std::to_string(last.created_at_ms) + "." + last.id;
}

Result<BackupQuery::Position> DecodeBackupsPageToken(const std::string& token) {
  BackupQuery::Position p;
  const auto bad = [&] {
    return Fail(Error::InvalidArgument("invalid page_token \"" + token.substr(0, 64) + "\""));
  };
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string::npos || token.size() > 128) return bad();
  char* end = nullptr;
  p.timestamp = std::strtoll(token.c_str(), &end, 10);
  if (end != token.c_str() + dot1) return bad();
  p.created_at_ms = std::strtoll(token.c_str() + dot1 + 1, &end, 10);
  if (end != token.c_str() + dot2) return bad();
  p.id = token.substr(dot2 + 1);
  if (p.id.rfind("backup-", 0) != 0) return bad();
  return p;
}

int64_t UnixNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// Where a new backup goes. dest_path (the Collector API's field): the plain format, a
// database file at that path, refused when backupd encrypts backups (it would be
// unencrypted). Otherwise an archive in the named store (or the default one), compressed
// and sealed as configured.
Status CollectionRepoService::PlaceBackup(const collector::BackupCollectionRequest& request,
                                          const CollectionName& name, const std::string& backup_id,
                                          BackupRecord& backup) const {
  const StoreSet& stores = *ctx_.stores;
  if (!request.dest_path().empty()) {
    if (!request.store().empty()) {
      return Fail(Error::InvalidArgument("give dest_path or store, not both"));
    }
    if (stores.keys().current()) {
      return Fail(Error::FailedPrecondition(
          "backupd encrypts backups (--encryption-key-file) and a dest_path backup is a plain "
          "database file; leave dest_path empty to back up to a store"));
    }
    auto dest = ResolveDestination(ctx_, name, request.dest_path(), backup_id);
    if (!dest) return Fail(dest.error());
    backup.storage_path = dest->string();
    return {};
  }
  return PlaceInStore(*ctx_.stores, name, backup_id, request.store(), backup);
}

Result<Job> CollectionRepoService::EnqueueBackup(const Principal& who,
                                                 const collector::BackupCollectionRequest& request,
                                                 const CollectionName& name,
                                                 const std::string& request_hash,
                                                 BackupRecord& backup) {
  auto collection = ctx_.catalog->GetCollection(name);
  if (!collection) return Fail(collection.error());
  const std::string backup_id = NewBackupId(name.ns, name.name, UnixNanos());
  BACKUP_TRY(PlaceBackup(request, name, backup_id, backup), name.Key());
  return EnqueueBackupJob(*ctx_.catalog, *ctx_.stores, request, *collection,
                          {.backup_id = backup_id,
                           .max_attempts = request.max_attempts() > 0 ? request.max_attempts()
                                                                      : ctx_.default_max_attempts,
                           .idempotency_key = request.idempotency_key(),
                           .request_hash = request_hash,
                           .submitted_by = who.name,
                           .now_ms = ctx_.jobs->clock().NowMs()},
                          backup);
}

Result<Job> CollectionRepoService::SubmitBackup(const Principal& who,
                                                const collector::BackupCollectionRequest& request,
                                                collector::BackupCollectionResponse& response) {
  if (!request.has_collection()) {
    return Fail(Error::InvalidArgument("backup: collection is required"));
  }
  CollectionName name = FromProto(request.collection());
  BACKUP_TRY(ValidateCollectionName(name), "backup");
  BACKUP_TRY(Require(who, Role::kOperator, name.ns, "BackupCollection"), "backup");
  BACKUP_TRY(ValidateStringMap(request.metadata(), "metadata"), "backup");
  BACKUP_TRY(RefuseReserved(request.idempotency_key(), request.metadata()), "backup");
  if (request.max_attempts() < 0 || request.max_attempts() > kMaxAttemptsLimit) {
    return Fail(Error::InvalidArgument("backup: max_attempts must be between 0 (default) and " +
                                       std::to_string(kMaxAttemptsLimit)));
  }
  BackupRecord backup;
  auto submitted = SubmitOnce(
      *ctx_.jobs, request, request.idempotency_key(),
      [&](const std::string& hash) { return EnqueueBackup(who, request, name, hash, backup); });
  if (!submitted) return Fail(submitted.error().Context("backup"));
  Job job = std::move(submitted->job);
  // A new backup is answered from the rows just committed (4 queries fewer on the hot
  // enqueue path; measured by backup-bench's queue scenario); a repeat reads them back.
  if (submitted->repeated) {
    auto stored = ctx_.catalog->GetBackup(job.backup_id);
    if (!stored) return Fail(stored.error());
    backup = std::move(*stored);
    auto current = ctx_.jobs->GetJob(job.id);
    if (!current) return Fail(current.error());
    job = std::move(*current);
  }
  *response.mutable_status() = OkStatus();
  *response.mutable_backup() = ToProto(backup);
  return job;
}

Status CollectionRepoService::DoListBackups(const Principal& who,
                                            const collector::ListBackupsRequest& request,
                                            collector::ListBackupsResponse& response) {
  BackupQuery query;
  if (request.has_collection() &&
      !(request.collection().namespace_().empty() && request.collection().name().empty())) {
    CollectionName name = FromProto(request.collection());
    BACKUP_TRY(ValidateCollectionName(name), "list backups");
    query.collection = name;
  }
  if (!request.namespace_().empty()) {
    BACKUP_TRY(ValidateName(request.namespace_(), "namespace"), "list backups");
    if (query.collection && query.collection->ns != request.namespace_()) {
      return Fail(Error::InvalidArgument("list backups: namespace \"" + request.namespace_() +
                                         "\" contradicts collection " + query.collection->Key()));
    }
  }
  if (request.limit() < 0) return Fail(Error::InvalidArgument("list backups: limit is negative"));
  query.ns = request.namespace_();
  if (query.collection) query.ns = query.collection->ns;
  if (!query.ns.empty()) {
    BACKUP_TRY(Require(who, Role::kViewer, query.ns, "ListBackups"), "list backups");
  }
  query.namespace_globs = VisibleNamespaces(who);
  const int page =
      request.limit() > 0 ? std::min(request.limit(), kMaxBackupsPage) : kMaxBackupsPage;
  query.limit = page + 1;  // one more tells whether another page follows
  query.since_timestamp = request.since_timestamp();
  if (!request.page_token().empty()) {
    auto after = DecodeBackupsPageToken(request.page_token());
    if (!after) return Fail(after.error().Context("list backups"));
    query.after = std::move(*after);
  }
  auto list = ctx_.catalog->ListBackups(query);
  if (!list) return Fail(list.error().Context("list backups"));
  *response.mutable_status() = OkStatus();
  response.set_total_count(list->total_count);
  std::vector<BackupRecord>& rows = list->backups;
  std::string next;  // the extra row fetched says another page follows this one
  if (rows.size() > static_cast<size_t>(page)) {
    rows.resize(static_cast<size_t>(page));
    next = EncodeBackupsPageToken(rows.back());
  }
  response.set_next_page_token(FillPage(
      rows, next,
      [&](const BackupRecord& b) -> const collector::BackupMetadata& {
        return *response.add_backups() = ToProto(b);
      },
      EncodeBackupsPageToken));
  return {};
}

grpc::ServerUnaryReactor* CollectionRepoService::BackupCollection(
    grpc::CallbackServerContext* context, const collector::BackupCollectionRequest* request,
    collector::BackupCollectionResponse* response) {
  return SubmissionCall::Start(
      ctx_, context,
      {.call = "BackupCollection",
       .when = When(*request),
       .submit = [this, request, response](
                     const Principal& who) { return SubmitBackup(who, *request, *response); },
       .answer = AnswerInto(*response, &collector::Job::backup_result),
       .describe =
           [request, response] {
             return AuditFields()
                 .Add("collection",
                      request->collection().namespace_() + "/" + request->collection().name())
                 .Add("backup", response->backup().backup_id())
                 .Add("job", response->job().job_id());
           }});
}

grpc::Status CollectionRepoService::ListBackups(grpc::ServerContext* context,
                                                const collector::ListBackupsRequest* request,
                                                collector::ListBackupsResponse* response) {
  return ServeRead(ctx_, *context,
                   [&](const Principal& who) { return DoListBackups(who, *request, *response); });
}

}  // namespace backup
