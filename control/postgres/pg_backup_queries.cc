// Backup rows on PostgreSQL: enqueue (with the job, atomically), read, list, complete.
#include <algorithm>
#include <string>

#include "common/text.h"
#include "control/json_map.h"
#include "control/postgres/postgres_control_store.h"

namespace backup {
namespace {

constexpr std::string_view kInsertBackup = R"sql(
INSERT INTO backups (backup_id, collection_namespace, collection_name, timestamp,
                     includes_files, storage_path, storage_type, metadata, created_at, state,
                     job_id, created_at_ms, store, object_key, compression, key_id, node)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $4, 'PENDING', $9, $10, $11, $12, $13, $14,
        $15))sql";

constexpr std::string_view kSelectBackupColumns = R"sql(
SELECT backup_id, collection_namespace, collection_name, timestamp, size_bytes, record_count,
       file_count, includes_files, storage_path, storage_type, backup_map_hex(metadata), state,
       sha256, completed_at, job_id, created_at_ms, last_verified_at, last_verify_valid,
       last_verify_error, db_mode, store, object_key, compression, key_id, stored_bytes,
       stored_etag, db_bytes, node
FROM backups)sql";

constexpr std::string_view kCompleteBackup = R"sql(
UPDATE backups SET state = 'COMPLETED', size_bytes = $2, record_count = $3, file_count = $4,
                   sha256 = $5, completed_at = $6, db_mode = $7, stored_bytes = $8,
                   stored_etag = $9, db_bytes = $10, object_key = $11, storage_path = $12
WHERE backup_id = $1 AND state = 'PENDING')sql";

// One statement for the whole manifest: the arrays are unnested into rows.
constexpr std::string_view kInsertManifest = R"sql(
INSERT INTO backup_files (backup_id, path, size, sha256, mode)
SELECT $1, path, size, sha256, mode
FROM unnest($2::text[], $3::bigint[], $4::text[], $5::integer[]) AS m(path, size, sha256, mode))sql";

Result<std::vector<BackupRecord>> ReadBackups(const pg::Rows& r) {
  std::vector<BackupRecord> out;
  for (int i = 0; i < r.Count(); ++i) {
    BackupRecord b;
    b.id = r.Text(i, 0);
    b.collection = {r.Text(i, 1), r.Text(i, 2)};
    b.timestamp = r.Int(i, 3);
    b.size_bytes = r.Int(i, 4);
    b.record_count = r.Int(i, 5);
    b.file_count = r.Int(i, 6);
    b.includes_files = r.Bool(i, 7);
    b.storage_path = r.Text(i, 8);
    b.storage_type = r.Text(i, 9);
    auto metadata = DecodeHexMap(r.Text(i, 10));
    if (!metadata) return Fail(metadata.error().Context("backup " + b.id + " metadata"));
    b.metadata = std::move(*metadata);
    b.state = BackupStateFromString(r.Text(i, 11)).value_or(BackupState::kFailed);
    b.sha256 = r.Text(i, 12);
    b.completed_at = r.Int(i, 13);
    b.job_id = r.Text(i, 14);
    b.created_at_ms = r.Int(i, 15);
    b.last_verified_at = r.Int(i, 16);
    b.last_verify_valid = r.Bool(i, 17);
    b.last_verify_error = r.Text(i, 18);
    b.db_mode = static_cast<int>(r.Int(i, 19));
    b.store = r.Text(i, 20);
    b.object_key = r.Text(i, 21);
    b.compression = r.Text(i, 22);
    b.key_id = r.Text(i, 23);
    b.stored_bytes = r.Int(i, 24);
    b.stored_etag = r.Text(i, 25);
    b.db_bytes = r.Int(i, 26);
    b.node = r.Text(i, 27);
    out.push_back(std::move(b));
  }
  return out;
}

std::string IntArray(const std::vector<int64_t>& items) {
  std::string out = "{";
  for (int64_t n : items) {
    if (out.size() > 1) out += ',';
    out += std::to_string(n);
  }
  return out + "}";
}

}  // namespace

Status PostgresControlStore::EnqueueBackup(const Job& job, const BackupRecord& backup) {
  const std::string metadata = EncodeJsonMap(backup.metadata);
  return Transact(
      "enqueue backup",
      [&](pg::Connection& c) -> Status {
        BACKUP_TRY(InsertJob(c, job), "insert job");
        auto inserted = c.Run(
            kInsertBackup,
            {std::string_view(backup.id), std::string_view(backup.collection.ns),
             std::string_view(backup.collection.name), backup.timestamp, backup.includes_files,
             std::string_view(backup.storage_path), std::string_view(backup.storage_type),
             std::string_view(metadata), std::string_view(backup.job_id), backup.created_at_ms,
             std::string_view(backup.store), std::string_view(backup.object_key),
             std::string_view(backup.compression), std::string_view(backup.key_id),
             std::string_view(backup.node)});
        if (!inserted && inserted.error().code() == Code::kAlreadyExists) {
          return Fail(Error::AlreadyExists("backup destination " + backup.storage_path +
                                           " is already used by another backup"));
        }
        if (!inserted) return Fail(inserted.error().Context("insert backup"));
        return {};
      },
      /*notify=*/true);
}

Result<BackupRecord> PostgresControlStore::GetBackup(const std::string& backup_id) {
  std::vector<BackupRecord> rows;
  if (auto done = WithConnection("get backup",
                                 [&](pg::Connection& c) -> Status {
                                   auto r = c.Query(
                                       std::string(kSelectBackupColumns) + " WHERE backup_id = $1",
                                       {std::string_view(backup_id)});
                                   if (!r) return Fail(r.error());
                                   auto read = ReadBackups(*r);
                                   if (!read) return Fail(read.error());
                                   rows = std::move(*read);
                                   return {};
                                 });
      !done)
    return Fail(done.error());
  if (rows.empty()) return Fail(Error::NotFound("backup " + backup_id + " not found"));
  return std::move(rows.front());
}

Result<BackupList> PostgresControlStore::ListBackups(const BackupQuery& q) {
  const std::string ns = q.collection ? q.collection->ns : q.ns;
  const std::string name = q.collection ? q.collection->name : "";
  // Only the filters a query needs, so the planner can use the matching index.
  std::string where = " WHERE timestamp >= $1";
  std::vector<pg::Value> params = {q.since_timestamp};
  auto add = [&](std::string_view sql, pg::Value value) {
    params.push_back(value);
    where += std::string(sql) + std::to_string(params.size());
  };
  if (!ns.empty()) add(" AND collection_namespace = $", std::string_view(ns));
  if (!name.empty()) add(" AND collection_name = $", std::string_view(name));
  const std::string scope = pg::LikeArray(q.namespace_globs);
  if (!q.namespace_globs.empty()) {
    add(" AND collection_namespace LIKE ANY ($", std::string_view(scope));
    where += "::text[])";
  }
  std::string page_where = where;
  std::vector<pg::Value> page_params = params;
  if (q.after) {
    const size_t n = page_params.size();
    page_where += " AND (timestamp, created_at_ms, backup_id) < ($" + std::to_string(n + 1) +
                  ", $" + std::to_string(n + 2) + ", $" + std::to_string(n + 3) + ")";
    page_params.insert(page_params.end(),
                       {q.after->timestamp, q.after->created_at_ms, std::string_view(q.after->id)});
  }
  page_params.push_back(q.limit > 0 ? std::optional<int64_t>(q.limit) : std::nullopt);
  page_where += " ORDER BY timestamp DESC, created_at_ms DESC, backup_id DESC LIMIT $" +
                std::to_string(page_params.size());
  BackupList list;
  if (auto done = WithConnection(
          "list backups",
          [&](pg::Connection& c) -> Status {
            auto count = c.Query("SELECT count(*) FROM backups" + where, params);
            if (!count) return Fail(count.error());
            list.total_count = count->Int(0, 0);
            auto r = c.Query(std::string(kSelectBackupColumns) + page_where, page_params);
            if (!r) return Fail(r.error());
            auto read = ReadBackups(*r);
            if (!read) return Fail(read.error());
            list.backups = std::move(*read);
            return {};
          });
      !done)
    return Fail(done.error());
  return list;
}

Result<std::vector<ManifestEntry>> PostgresControlStore::GetManifest(const std::string& backup_id) {
  std::vector<ManifestEntry> out;
  if (auto done = WithConnection("read manifest",
                                 [&](pg::Connection& c) -> Status {
                                   auto r = c.Query(
                                       "SELECT path, size, sha256, mode FROM backup_files "
                                       "WHERE backup_id = $1 ORDER BY path",
                                       {std::string_view(backup_id)});
                                   if (!r) return Fail(r.error());
                                   for (int i = 0; i < r->Count(); ++i) {
                                     out.push_back({NameFromText(r->Text(i, 0)), r->Int(i, 1),
                                                    r->Text(i, 2), static_cast<int>(r->Int(i, 3))});
                                   }
                                   return {};
                                 });
      !done)
    return Fail(done.error());
  // In the order of the names' bytes, as SQLite's store returns them (a name kept in hex
  // sorts elsewhere in the column).
  std::sort(out.begin(), out.end(),
            [](const ManifestEntry& a, const ManifestEntry& b) { return a.path < b.path; });
  return out;
}

Status PostgresControlStore::CompleteBackup(const Lease& lease, const BackupRecord& b,
                                            const std::vector<ManifestEntry>& manifest,
                                            const std::string& result) {
  std::vector<std::string> paths, hashes;
  std::vector<int64_t> sizes, modes;
  for (const ManifestEntry& e : manifest) {
    paths.push_back(NameAsText(e.path));  // TEXT holds only UTF-8
    hashes.push_back(e.sha256);
    sizes.push_back(e.size);
    modes.push_back(e.mode);
  }
  const std::string path_array = pg::TextArray(paths), hash_array = pg::TextArray(hashes),
                    size_array = IntArray(sizes), mode_array = IntArray(modes);
  auto complete_row = [&](pg::Connection& c) -> Status {
    auto updated =
        c.Run(kCompleteBackup, {std::string_view(b.id), b.size_bytes, b.record_count, b.file_count,
                                std::string_view(b.sha256), b.completed_at, int64_t{b.db_mode},
                                b.stored_bytes, std::string_view(b.stored_etag), b.db_bytes,
                                std::string_view(b.object_key), std::string_view(b.storage_path)});
    if (!updated) return Fail(updated.error().Context("backup row"));
    if (*updated != 1) return Fail(Error::Aborted("backup " + b.id + " is no longer pending"));
    if (manifest.empty()) return {};
    BACKUP_TRY(c.Run(kInsertManifest, {std::string_view(b.id), std::string_view(path_array),
                                       std::string_view(size_array), std::string_view(hash_array),
                                       std::string_view(mode_array)}),
               "manifest");
    return {};
  };
  return SucceedJob(lease, "complete backup", result, std::pair{b.size_bytes, b.file_count},
                    complete_row);
}

}  // namespace backup
