// The collection registry on PostgreSQL: CreateCollection, GetCollection, Discover,
// BackupStats.
#include <string>

#include "control/postgres/postgres_control_store.h"

namespace backup {
namespace {

constexpr std::string_view kInsertCollection = R"sql(
INSERT INTO collections (namespace, name, db_path, files_path, message_type_namespace,
                         message_type_name, created_at, updated_at, node)
VALUES ($1, $2, $3, $4, $5, $6, backup_now_ms($7), backup_now_ms($7), $8))sql";

constexpr std::string_view kUpsertLabel = R"sql(
INSERT INTO collection_labels (namespace, name, key, value) VALUES ($1, $2, $3, $4)
ON CONFLICT (namespace, name, key) DO UPDATE SET value = excluded.value)sql";

// Labels ride along as one "hexkey:hexvalue,..." column (see backup_map_hex).
constexpr std::string_view kSelectCollectionColumns = R"sql(
SELECT c.namespace, c.name, c.db_path, c.files_path, c.message_type_namespace,
       c.message_type_name, c.created_at, c.updated_at,
       (SELECT backup_map_hex(coalesce(jsonb_object_agg(l.key, l.value), '{}'))
        FROM collection_labels l WHERE l.namespace = c.namespace AND l.name = c.name),
       c.node
FROM collections c)sql";

constexpr std::string_view kStats = R"sql(
SELECT c.namespace, c.name,
  (SELECT count(*) FROM backups b WHERE b.collection_namespace = c.namespace
     AND b.collection_name = c.name AND b.state = 'COMPLETED'),
  (SELECT coalesce(max(completed_at), 0) FROM backups b WHERE b.collection_namespace = c.namespace
     AND b.collection_name = c.name AND b.state = 'COMPLETED'),
  v.last_verified_at, v.last_verify_valid
FROM collections c
LEFT JOIN LATERAL (
  SELECT last_verified_at, last_verify_valid FROM backups b
  WHERE b.collection_namespace = c.namespace AND b.collection_name = c.name
    AND b.last_verified_at > 0
  ORDER BY b.last_verified_at DESC LIMIT 1) v ON true
ORDER BY c.namespace, c.name)sql";

Result<std::vector<CollectionRecord>> ReadCollections(const pg::Rows& r) {
  std::vector<CollectionRecord> out;
  for (int i = 0; i < r.Count(); ++i) {
    CollectionRecord c;
    c.name = {r.Text(i, 0), r.Text(i, 1)};
    c.db_path = r.Text(i, 2);
    c.files_path = r.Text(i, 3);
    c.message_type_namespace = r.Text(i, 4);
    c.message_type_name = r.Text(i, 5);
    c.created_at_ms = r.Int(i, 6);
    c.updated_at_ms = r.Int(i, 7);
    auto labels = DecodeHexMap(r.Text(i, 8));
    if (!labels) return Fail(labels.error().Context("collection " + c.name.Key() + " labels"));
    c.labels = std::move(*labels);
    c.node = r.Text(i, 9);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

Status PostgresControlStore::UpdateLabels(pg::Connection& c, const CollectionRecord& record) {
  for (const auto& [k, v] : record.labels) {
    BACKUP_TRY(
        c.Run(kUpsertLabel, {std::string_view(record.name.ns), std::string_view(record.name.name),
                             std::string_view(k), std::string_view(v)}),
        "insert label");
  }
  return {};
}

Status PostgresControlStore::CreateCollection(const CollectionRecord& record) {
  return Transact(
      "register collection",
      [&](pg::Connection& c) -> Status {
        auto inserted = c.Run(
            kInsertCollection,
            {std::string_view(record.name.ns), std::string_view(record.name.name),
             std::string_view(record.db_path), std::string_view(record.files_path),
             std::string_view(record.message_type_namespace),
             std::string_view(record.message_type_name), Now(), std::string_view(record.node)});
        if (!inserted && inserted.error().code() == Code::kAlreadyExists) {
          return Fail(Error::AlreadyExists("collection " + record.name.Key() + " already exists"));
        }
        if (!inserted) return Fail(inserted.error());
        return UpdateLabels(c, record);
      },
      /*notify=*/false);
}

Result<CollectionRecord> PostgresControlStore::GetCollection(const CollectionName& name) {
  std::vector<CollectionRecord> found;
  if (auto done = WithConnection("get collection",
                                 [&](pg::Connection& c) -> Status {
                                   auto r = c.Query(
                                       std::string(kSelectCollectionColumns) +
                                           " WHERE c.namespace = $1 AND c.name = $2",
                                       {std::string_view(name.ns), std::string_view(name.name)});
                                   if (!r) return Fail(r.error());
                                   auto read = ReadCollections(*r);
                                   if (!read) return Fail(read.error());
                                   found = std::move(*read);
                                   return {};
                                 });
      !done)
    return Fail(done.error());
  if (found.empty()) return Fail(Error::NotFound("collection " + name.Key() + " not found"));
  return std::move(found.front());
}

Result<CollectionPage> PostgresControlStore::Discover(const DiscoverQuery& query) {
  // The page token is the last "namespace/name" key returned; the listing goes on after
  // it in its own (namespace, name) order, in byte order (COLLATE "C" columns).
  const CollectionName after = SplitPageToken(query.page_token);
  std::string sql = std::string(kSelectCollectionColumns) +
                    " WHERE ($1 = '' OR c.namespace = $1) AND (c.namespace, c.name) > ($2, $3)";
  std::vector<pg::Value> params = {std::string_view(query.ns), std::string_view(after.ns),
                                   std::string_view(after.name)};
  for (const auto& [k, v] : query.labels) {
    params.push_back(std::string_view(k));
    params.push_back(std::string_view(v));
    sql +=
        " AND EXISTS (SELECT 1 FROM collection_labels l WHERE l.namespace = c.namespace AND "
        "l.name = c.name AND l.key = $" +
        std::to_string(params.size() - 1) + " AND l.value = $" + std::to_string(params.size()) +
        ")";
  }
  const std::string scope = pg::LikeArray(query.namespace_globs);
  if (!query.namespace_globs.empty()) {
    params.push_back(std::string_view(scope));
    sql += " AND c.namespace LIKE ANY ($" + std::to_string(params.size()) + "::text[])";
  }
  params.push_back(static_cast<int64_t>(query.page_size) + 1);
  sql += " ORDER BY c.namespace, c.name LIMIT $" + std::to_string(params.size());
  CollectionPage page;
  if (auto done = WithConnection("discover",
                                 [&](pg::Connection& c) -> Status {
                                   auto r = c.Query(sql, params);
                                   if (!r) return Fail(r.error());
                                   auto read = ReadCollections(*r);
                                   if (!read) return Fail(read.error());
                                   page.collections = std::move(*read);
                                   return {};
                                 });
      !done)
    return Fail(done.error());
  if (static_cast<int>(page.collections.size()) > query.page_size) {
    page.collections.resize(query.page_size);
    page.next_page_token = page.collections.back().name.Key();
  }
  return page;
}

Result<std::vector<CollectionBackupStats>> PostgresControlStore::BackupStats() {
  std::vector<CollectionBackupStats> out;
  if (auto done = WithConnection("backup stats",
                                 [&](pg::Connection& c) -> Status {
                                   auto r = c.Query(kStats);
                                   if (!r) return Fail(r.error());
                                   for (int i = 0; i < r->Count(); ++i) {
                                     out.push_back({.collection = {r->Text(i, 0), r->Text(i, 1)},
                                                    .completed = r->Int(i, 2),
                                                    .last_completed_at = r->Int(i, 3),
                                                    .last_verified_at = r->Int(i, 4),
                                                    .last_verify_valid = r->Bool(i, 5)});
                                   }
                                   return {};
                                 });
      !done)
    return Fail(done.error());
  return out;
}

}  // namespace backup
