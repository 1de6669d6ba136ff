// CreateCollection and Discover: the registry.
#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "common/sqlite.h"
#include "common/wire.h"
#include "server/collection_repo_service.h"
#include "server/grpc_status.h"
#include "server/request_checks.h"
#include "server/serve_call.h"

namespace backup {
namespace {

// The Collector record table: one row per record, its payload a serialized protobuf.
constexpr std::string_view kCollectionSchema = R"sql(
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS records (
  id TEXT PRIMARY KEY,
  proto_data BLOB,
  data_uri TEXT,
  created_at INTEGER NOT NULL DEFAULT (unixepoch()),
  updated_at INTEGER NOT NULL DEFAULT (unixepoch()),
  labels TEXT
);)sql";

}  // namespace

Status CollectionRepoService::DoCreateCollection(const Principal& who,
                                                 const collector::CreateCollectionRequest& request,
                                                 collector::CreateCollectionResponse& response) {
  const auto& c = request.collection();
  CollectionName name{c.namespace_(), c.name()};
  BACKUP_TRY(ValidateCollectionName(name), "create collection");
  BACKUP_TRY(Require(who, Role::kOperator, name.ns, "CreateCollection"), "create collection");
  BACKUP_TRY(ValidateStringMap(c.metadata().labels(), "labels"), "create collection");
  if (auto existing = ctx_.catalog->GetCollection(name); existing) {
    return Fail(Error::AlreadyExists("collection " + name.Key() + " already exists"));
  }
  CollectionRecord record;
  record.name = name;
  record.node = ctx_.node;  // the collection lives on the node that registered it
  record.db_path = ctx_.layout.CollectionDb(name).string();
  record.files_path = ctx_.layout.CollectionFilesDir(name).string();
  record.message_type_namespace = c.message_type().namespace_();
  record.message_type_name = c.message_type().message_name();
  record.labels.insert(c.metadata().labels().begin(), c.metadata().labels().end());

  BACKUP_TRY(CreateDirs(ctx_.layout.CollectionDb(name).parent_path()), "create collection");
  BACKUP_TRY(CreateDirs(record.files_path), "create collection");
  auto db = sql::Database::Open(record.db_path, {});
  if (!db) return Fail(db.error().Context("create collection database"));
  BACKUP_TRY(db->Exec(kCollectionSchema), "create collection schema");
  BACKUP_TRY(ctx_.catalog->CreateCollection(record), "create collection");
  spdlog::info("collection={} created at {}", name.Key(), record.db_path);
  *response.mutable_status() = OkStatus();
  response.set_collection_id(name.Key());
  return {};
}

Status CollectionRepoService::DoDiscover(const Principal& who,
                                         const collector::DiscoverRequest& request,
                                         collector::DiscoverResponse& response) {
  if (!request.namespace_().empty()) {
    BACKUP_TRY(ValidateName(request.namespace_(), "namespace"), "discover");
    BACKUP_TRY(Require(who, Role::kViewer, request.namespace_(), "Discover"), "discover");
  }
  BACKUP_TRY(ValidateStringMap(request.label_filter(), "label_filter"), "discover");
  auto page_size = PageSize(request.page_size());
  if (!page_size) return Fail(page_size.error().Context("discover"));
  DiscoverQuery query;
  query.ns = request.namespace_();
  query.namespace_globs = VisibleNamespaces(who);
  query.labels.insert(request.label_filter().begin(), request.label_filter().end());
  query.page_size = *page_size;
  query.page_token = request.page_token();
  auto page = ctx_.catalog->Discover(query);
  if (!page) return Fail(page.error().Context("discover"));
  *response.mutable_status() = OkStatus();
  response.set_next_page_token(FillPage(
      page->collections, page->next_page_token,
      [&](const CollectionRecord& c) -> const collector::Collection& {
        return *response.add_collections() = ToProto(c);
      },
      [](const CollectionRecord& c) { return c.name.Key(); }));
  return {};
}

grpc::Status CollectionRepoService::CreateCollection(
    grpc::ServerContext* context, const collector::CreateCollectionRequest* request,
    collector::CreateCollectionResponse* response) {
  return ServeChange(
      ctx_, *context, "CreateCollection",
      [&](const Principal& who) { return DoCreateCollection(who, *request, *response); },
      [&] {
        return AuditFields().Add(
            "collection", request->collection().namespace_() + "/" + request->collection().name());
      });
}

grpc::Status CollectionRepoService::Discover(grpc::ServerContext* context,
                                             const collector::DiscoverRequest* request,
                                             collector::DiscoverResponse* response) {
  return ServeRead(ctx_, *context,
                   [&](const Principal& who) { return DoDiscover(who, *request, *response); });
}

}  // namespace backup
