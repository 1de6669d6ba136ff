// The collection registry: CreateCollection, GetCollection, Discover.
#include <cstdlib>
#include <string>

#include "control/sqlite/scope_filter.h"
#include "control/sqlite/sqlite_control_store.h"

namespace backup {
namespace {

constexpr std::string_view kInsertCollection = R"sql(
INSERT INTO collections (namespace, name, db_path, files_path, message_type_namespace,
                         message_type_name, created_at, updated_at, node)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8))sql";

constexpr std::string_view kInsertLabel =
    "INSERT OR REPLACE INTO collection_labels (namespace, name, key, value) VALUES (?1,?2,?3,?4)";

constexpr std::string_view kSelectCollectionColumns =
    "SELECT namespace, name, db_path, files_path, message_type_namespace, message_type_name, "
    "created_at, updated_at, node FROM collections c";

constexpr std::string_view kSelectLabels =
    "SELECT key, value FROM collection_labels WHERE namespace = ?1 AND name = ?2";

// One of these per label in the filter; the values are bound, never spliced.
constexpr std::string_view kLabelFilter =
    " AND EXISTS (SELECT 1 FROM collection_labels l WHERE l.namespace = c.namespace AND "
    "l.name = c.name AND l.key = ? AND l.value = ?)";

CollectionRecord ReadCollection(const sql::Statement& s) {
  CollectionRecord r;
  r.name = {s.Text(0), s.Text(1)};
  r.db_path = s.Text(2);
  r.files_path = s.Text(3);
  r.message_type_namespace = s.Text(4);
  r.message_type_name = s.Text(5);
  r.created_at_ms = s.Int(6);
  r.updated_at_ms = s.Int(7);
  r.node = s.Text(8);
  return r;
}

}  // namespace

Status SqliteControlStore::UpdateLabels(const CollectionRecord& record) {
  for (const auto& [k, v] : record.labels) {
    BACKUP_TRY(db_.Run(kInsertLabel, {record.name.ns, record.name.name, k, v}), "insert label");
  }
  return {};
}

Status SqliteControlStore::CreateCollection(const CollectionRecord& record) {
  std::lock_guard lock(mu_);
  auto tx = sql::Transaction::Begin(db_);
  if (!tx) return Fail(tx.error());
  auto inserted = db_.Run(kInsertCollection, {record.name.ns, record.name.name, record.db_path,
                                              record.files_path, record.message_type_namespace,
                                              record.message_type_name, Now(), record.node});
  if (!inserted && inserted.error().code() == Code::kAlreadyExists) {
    return Fail(Error::AlreadyExists("collection " + record.name.Key() + " already exists"));
  }
  if (!inserted) return Fail(inserted.error().Context("register collection"));
  BACKUP_TRY(UpdateLabels(record), "register collection");
  return tx->Commit();
}

Result<CollectionRecord> SqliteControlStore::GetCollection(const CollectionName& name) {
  std::lock_guard lock(mu_);
  auto stmt =
      db_.Prepare(std::string(kSelectCollectionColumns) + " WHERE namespace = ?1 AND name = ?2");
  if (!stmt) return Fail(stmt.error());
  stmt->Bind({name.ns, name.name});
  auto row = stmt->Step();
  if (!row) return Fail(row.error().Context("get collection"));
  if (!*row) return Fail(Error::NotFound("collection " + name.Key() + " not found"));
  CollectionRecord record = ReadCollection(*stmt);
  auto labels = db_.Prepare(kSelectLabels);
  if (!labels) return Fail(labels.error());
  labels->Bind({name.ns, name.name});
  for (;;) {
    auto more = labels->Step();
    if (!more) return Fail(more.error().Context("get collection labels"));
    if (!*more) break;
    record.labels[labels->Text(0)] = labels->Text(1);
  }
  return record;
}

Result<CollectionPage> SqliteControlStore::Discover(const DiscoverQuery& query) {
  std::vector<CollectionName> names;
  CollectionPage page;
  {
    std::lock_guard lock(mu_);
    // The page token is the last "namespace/name" key returned; the listing goes on after
    // it in the listing's own (namespace, name) order (comparing the joined key instead
    // would skip "a-b/..." after "a/...", as '-' sorts before '/').
    const CollectionName after = SplitPageToken(query.page_token);
    std::string sql = std::string(kSelectCollectionColumns) +
                      " WHERE (?1 = '' OR c.namespace = ?1) AND (c.namespace, c.name) > (?2, ?3)";
    for (size_t i = 0; i < query.labels.size(); ++i) sql += kLabelFilter;
    // The scope's patterns take the numbers after the labels' and the limit's.
    const int scope_index = 4 + 2 * static_cast<int>(query.labels.size()) + 1;
    sql += ScopeFilter("c.namespace", query.namespace_globs.size(), scope_index);
    sql += " ORDER BY c.namespace, c.name LIMIT ?" + std::to_string(scope_index - 1);
    auto stmt = db_.Prepare(sql);
    if (!stmt) return Fail(stmt.error());
    stmt->Bind({query.ns, after.ns, after.name});
    int index = 4;
    for (const auto& [k, v] : query.labels) {
      stmt->BindAt(index++, std::string_view(k));
      stmt->BindAt(index++, std::string_view(v));
    }
    stmt->BindAt(index, static_cast<int64_t>(query.page_size) + 1);
    BindScope(*stmt, query.namespace_globs, scope_index);
    for (;;) {
      auto row = stmt->Step();
      if (!row) return Fail(row.error().Context("discover"));
      if (!*row) break;
      names.push_back({stmt->Text(0), stmt->Text(1)});
    }
  }
  if (static_cast<int>(names.size()) > query.page_size) {
    names.resize(query.page_size);
    page.next_page_token = names.back().Key();
  }
  for (const auto& name : names) {
    auto record = GetCollection(name);
    if (!record) return Fail(record.error());
    page.collections.push_back(std::move(*record));
  }
  return page;
}

Result<std::vector<CollectionBackupStats>> SqliteControlStore::BackupStats() {
  // Correlated subqueries on idx_collection_order: one index range per collection.
  constexpr std::string_view kStats = R"sql(
SELECT c.namespace, c.name,
  (SELECT COUNT(*) FROM backups b WHERE b.collection_namespace = c.namespace
     AND b.collection_name = c.name AND b.state = 'COMPLETED'),
  (SELECT MAX(completed_at) FROM backups b WHERE b.collection_namespace = c.namespace
     AND b.collection_name = c.name AND b.state = 'COMPLETED'),
  (SELECT last_verified_at || ' ' || last_verify_valid FROM backups b
     WHERE b.collection_namespace = c.namespace AND b.collection_name = c.name
       AND b.last_verified_at > 0 ORDER BY b.last_verified_at DESC LIMIT 1)
FROM collections c ORDER BY c.namespace, c.name)sql";
  std::lock_guard lock(mu_);
  auto stmt = db_.Prepare(kStats);
  if (!stmt) return Fail(stmt.error());
  std::vector<CollectionBackupStats> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Fail(row.error().Context("backup stats"));
    if (!*row) break;
    CollectionBackupStats s{.collection = {stmt->Text(0), stmt->Text(1)},
                            .completed = stmt->Int(2),
                            .last_completed_at = stmt->Int(3)};
    const std::string verify = stmt->Text(4);  // "<unix seconds> <0|1>", or empty
    if (const auto space = verify.find(' '); space != std::string::npos) {
      s.last_verified_at = std::strtoll(verify.c_str(), nullptr, 10);
      s.last_verify_valid = verify.substr(space + 1) == "1";
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace backup
