// The control database's schema, as numbered migrations applied in order and recorded
// in PRAGMA user_version. Never edit a released migration; append a new one.
#include <array>
#include <string_view>

#include <spdlog/spdlog.h>

#include "control/sqlite/sqlite_control_store.h"

namespace backup {
namespace {

constexpr std::array<std::string_view, 9> kMigrations = {
    // 1: collections, backups (the Collector API's BackupMetadata columns, plus state and
    // checksums), jobs.
    R"sql(
CREATE TABLE collections (
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  db_path TEXT NOT NULL,
  files_path TEXT NOT NULL,
  message_type_namespace TEXT NOT NULL DEFAULT '',
  message_type_name TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (namespace, name)
);
CREATE TABLE collection_labels (
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (namespace, name, key),
  FOREIGN KEY (namespace, name) REFERENCES collections (namespace, name) ON DELETE CASCADE
);
CREATE INDEX idx_collection_labels_kv ON collection_labels (key, value);

CREATE TABLE backups (
  backup_id TEXT PRIMARY KEY,
  collection_namespace TEXT NOT NULL,
  collection_name TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  size_bytes INTEGER NOT NULL,
  record_count INTEGER NOT NULL,
  file_count INTEGER NOT NULL,
  includes_files INTEGER NOT NULL,
  storage_path TEXT NOT NULL,
  storage_type TEXT NOT NULL,
  metadata TEXT,
  created_at INTEGER NOT NULL,
  state TEXT NOT NULL,
  sha256 TEXT NOT NULL DEFAULT '',
  completed_at INTEGER NOT NULL DEFAULT 0,
  job_id TEXT NOT NULL DEFAULT '',
  created_at_ms INTEGER NOT NULL
);
CREATE INDEX idx_collection ON backups (collection_namespace, collection_name);
CREATE INDEX idx_timestamp ON backups (timestamp);
CREATE INDEX idx_backups_order ON backups (timestamp DESC, created_at_ms DESC);
-- Two live backups never share a file.
CREATE UNIQUE INDEX idx_backups_live_path ON backups (storage_path)
  WHERE state IN ('PENDING', 'COMPLETED');

CREATE TABLE backup_files (
  backup_id TEXT NOT NULL REFERENCES backups (backup_id) ON DELETE CASCADE,
  path TEXT NOT NULL,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  PRIMARY KEY (backup_id, path)
) WITHOUT ROWID;

CREATE TABLE jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  collection_namespace TEXT NOT NULL,
  collection_name TEXT NOT NULL,
  backup_id TEXT NOT NULL DEFAULT '',
  params BLOB,
  result BLOB,
  phase TEXT NOT NULL DEFAULT 'queued',
  bytes_done INTEGER NOT NULL DEFAULT 0,
  bytes_total INTEGER NOT NULL DEFAULT 0,
  items_done INTEGER NOT NULL DEFAULT 0,
  items_total INTEGER NOT NULL DEFAULT 0,
  attempt INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_expires_at INTEGER NOT NULL DEFAULT 0,
  run_after INTEGER NOT NULL,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  error_code INTEGER NOT NULL DEFAULT 0,
  error_message TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  started_at INTEGER NOT NULL DEFAULT 0,
  finished_at INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL
);
CREATE INDEX idx_jobs_queue ON jobs (state, run_after, seq);
CREATE INDEX idx_jobs_collection ON jobs (collection_namespace, collection_name, state);
CREATE INDEX idx_jobs_lease ON jobs (state, lease_expires_at);
)sql",
    // 2: verification outcome on backups; the restore journal; jobs by backup.
    R"sql(
ALTER TABLE backups ADD COLUMN last_verified_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE backups ADD COLUMN last_verify_valid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE backups ADD COLUMN last_verify_error TEXT NOT NULL DEFAULT '';
-- A row here means the restore job's temporary copies are complete and verified: from
-- then on the swap only rolls forward (a retry finishes it; it is never failed).
CREATE TABLE restore_intents (
  job_id TEXT PRIMARY KEY REFERENCES jobs (job_id),
  created_at INTEGER NOT NULL
);
CREATE INDEX idx_jobs_backup ON jobs (backup_id, state);
)sql",
    // 3: idempotency keys; the error of every attempt; pruning by finish time.
    R"sql(
ALTER TABLE jobs ADD COLUMN idempotency_key TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN request_hash TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX idx_jobs_idempotency ON jobs (idempotency_key) WHERE idempotency_key != '';
CREATE INDEX idx_jobs_finished ON jobs (finished_at) WHERE finished_at > 0;
CREATE TABLE job_attempts (
  job_id TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
  attempt INTEGER NOT NULL,
  worker TEXT NOT NULL,
  error_code INTEGER NOT NULL,
  error_message TEXT NOT NULL,
  finished_at INTEGER NOT NULL,
  PRIMARY KEY (job_id, attempt)
) WITHOUT ROWID;
)sql",
    // 4: ListBackups filters in their listing order (measured by backup-bench: p99 went
    // from ~30 ms to a few ms at 100,000 backups).
    R"sql(
CREATE INDEX idx_backups_collection_order
  ON backups (collection_namespace, collection_name, timestamp DESC, created_at_ms DESC);
CREATE INDEX idx_backups_namespace_order
  ON backups (collection_namespace, timestamp DESC, created_at_ms DESC);
)sql",
    // 5: who submitted each job (the audit trail of GetJob).
    R"sql(
ALTER TABLE jobs ADD COLUMN submitted_by TEXT NOT NULL DEFAULT '';
)sql",
    // 6: permission bits of the copied sources, so a restore gives them back (backups
    // themselves are 0600).
    R"sql(
ALTER TABLE backups ADD COLUMN db_mode INTEGER NOT NULL DEFAULT 420;
ALTER TABLE backup_files ADD COLUMN mode INTEGER NOT NULL DEFAULT 420;
)sql",
    // 7: archive-format backups in a named store, compressed and maybe encrypted.
    R"sql(
ALTER TABLE backups ADD COLUMN store TEXT NOT NULL DEFAULT '';
ALTER TABLE backups ADD COLUMN object_key TEXT NOT NULL DEFAULT '';
ALTER TABLE backups ADD COLUMN compression TEXT NOT NULL DEFAULT 'none';
ALTER TABLE backups ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE backups ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE backups ADD COLUMN stored_etag TEXT NOT NULL DEFAULT '';
ALTER TABLE backups ADD COLUMN db_bytes INTEGER NOT NULL DEFAULT 0;
)sql",
    // 8: backup policies (schedules and retention).
    R"sql(
CREATE TABLE policies (
  name TEXT PRIMARY KEY,
  namespace TEXT NOT NULL,
  collection_name TEXT NOT NULL,
  labels TEXT NOT NULL,
  schedule TEXT NOT NULL,
  store TEXT NOT NULL,
  include_files INTEGER NOT NULL,
  keep_last INTEGER NOT NULL,
  keep_daily INTEGER NOT NULL,
  keep_weekly INTEGER NOT NULL,
  keep_monthly INTEGER NOT NULL,
  keep_within_s INTEGER NOT NULL,
  verify INTEGER NOT NULL,
  jitter_s INTEGER NOT NULL,
  paused INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_slot INTEGER NOT NULL
);
)sql",
    // 9: nodes (a fleet of hosts on one queue: where a collection, a backup and a job
    // live); claims test a collection's restores through an index instead of all its jobs
    // (backup-bench: 0.2 claims/s with 4,000 jobs queued on one collection before).
    R"sql(
ALTER TABLE collections ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE backups ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN node TEXT NOT NULL DEFAULT '';
CREATE INDEX idx_jobs_collection_kind
  ON jobs (collection_namespace, collection_name, kind, state, seq);
)sql",
};

}  // namespace

Result<std::unique_ptr<SqliteControlStore>> SqliteControlStore::Open(
    const SqliteControlStoreOptions& options) {
  auto db = sql::Database::Open(options.path, {.busy_timeout_ms = options.busy_timeout_ms});
  if (!db) return Fail(db.error().Context("open control database"));
  // WAL lets readers (ListBackups, WatchJob) run beside the writers; synchronous=FULL
  // fsyncs the WAL at every commit, so an acknowledged job survives a power cut.
  BACKUP_TRY(db->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                      "PRAGMA foreign_keys=ON;"),
             "configure control database");
  std::unique_ptr<SqliteControlStore> store(new SqliteControlStore(options, std::move(*db)));
  BACKUP_TRY(store->Migrate(), "migrate control database");
  return store;
}

Status SqliteControlStore::Migrate() {
  std::lock_guard lock(mu_);
  auto tx = sql::Transaction::Begin(db_);
  if (!tx) return Fail(tx.error());
  auto version = db_.QueryInt("PRAGMA user_version");
  if (!version) return Fail(version.error());
  if (*version > static_cast<int64_t>(kMigrations.size())) {
    return Fail(Error::FailedPrecondition(
        "control database schema version " + std::to_string(*version) +
        " is newer than this binary understands (" + std::to_string(kMigrations.size()) + ")"));
  }
  for (auto v = *version; v < static_cast<int64_t>(kMigrations.size()); ++v) {
    BACKUP_TRY(db_.Exec(kMigrations[v]), "migration " + std::to_string(v + 1));
    BACKUP_TRY(db_.Exec("PRAGMA user_version = " + std::to_string(v + 1)), "set user_version");
    spdlog::info("control database migrated to schema version {}", v + 1);
  }
  return tx->Commit();
}

}  // namespace backup
