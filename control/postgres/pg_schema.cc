// The PostgreSQL control database's schema, as numbered migrations recorded in
// backup_schema_version and applied under an advisory lock, so that processes starting at
// once apply each exactly once. Never edit a released migration; append a new one.
//
// Identifiers use COLLATE "C" (byte order), which the paging tokens rely on whatever the
// database's default collation is.
#include <array>
#include <string_view>

#include <spdlog/spdlog.h>

#include "control/postgres/postgres_control_store.h"

namespace backup {
namespace {

// pg_advisory_xact_lock key of the migrations ("CBmi").
constexpr int64_t kMigrationLock = 0x43426d69;

constexpr std::array<std::string_view, 2> kMigrations = {
    // 1: the schema of SQLite's migrations 1-8 at once.
    R"sql(
-- The clock of leases and due times: the injected one (tests), else the database's, read
-- when called (clock_timestamp(), not the transaction's start: a claim that waited for
-- the claim lock must not hand out a lease that is already partly spent).
CREATE FUNCTION backup_now_ms(given bigint) RETURNS bigint LANGUAGE sql VOLATILE AS
  $$ SELECT coalesce(given, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) $$;
-- A string map (jsonb of strings) as "hexkey:hexvalue,...", sorted: trivial to decode.
CREATE FUNCTION backup_map_hex(m jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS
  $$ SELECT coalesce(string_agg(encode(convert_to(key, 'UTF8'), 'hex') || ':' ||
                                encode(convert_to(value, 'UTF8'), 'hex'), ',' ORDER BY key), '')
     FROM jsonb_each_text(m) $$;

CREATE TABLE collections (
  namespace TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  db_path TEXT NOT NULL,
  files_path TEXT NOT NULL,
  message_type_namespace TEXT NOT NULL DEFAULT '',
  message_type_name TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (namespace, name)
);
CREATE TABLE collection_labels (
  namespace TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (namespace, name, key),
  FOREIGN KEY (namespace, name) REFERENCES collections (namespace, name) ON DELETE CASCADE
);
CREATE INDEX idx_collection_labels_kv ON collection_labels (key, value);

CREATE TABLE backups (
  backup_id TEXT COLLATE "C" PRIMARY KEY,
  collection_namespace TEXT COLLATE "C" NOT NULL,
  collection_name TEXT COLLATE "C" NOT NULL,
  timestamp BIGINT NOT NULL,
  size_bytes BIGINT NOT NULL DEFAULT 0,
  record_count BIGINT NOT NULL DEFAULT 0,
  file_count BIGINT NOT NULL DEFAULT 0,
  includes_files BOOLEAN NOT NULL,
  storage_path TEXT NOT NULL,
  storage_type TEXT NOT NULL,
  metadata JSONB NOT NULL DEFAULT '{}',
  created_at BIGINT NOT NULL,
  state TEXT NOT NULL,
  sha256 TEXT NOT NULL DEFAULT '',
  completed_at BIGINT NOT NULL DEFAULT 0,
  job_id TEXT COLLATE "C" NOT NULL DEFAULT '',
  created_at_ms BIGINT NOT NULL,
  last_verified_at BIGINT NOT NULL DEFAULT 0,
  last_verify_valid BOOLEAN NOT NULL DEFAULT false,
  last_verify_error TEXT NOT NULL DEFAULT '',
  db_mode INTEGER NOT NULL DEFAULT 420,
  store TEXT NOT NULL DEFAULT '',
  object_key TEXT NOT NULL DEFAULT '',
  compression TEXT NOT NULL DEFAULT 'none',
  key_id TEXT NOT NULL DEFAULT '',
  stored_bytes BIGINT NOT NULL DEFAULT 0,
  stored_etag TEXT NOT NULL DEFAULT '',
  db_bytes BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX idx_backups_order ON backups (timestamp DESC, created_at_ms DESC, backup_id DESC);
CREATE INDEX idx_backups_collection_order ON backups
  (collection_namespace, collection_name, timestamp DESC, created_at_ms DESC, backup_id DESC);
CREATE INDEX idx_backups_namespace_order ON backups
  (collection_namespace, timestamp DESC, created_at_ms DESC, backup_id DESC);
CREATE INDEX idx_backups_pending_job ON backups (job_id) WHERE state = 'PENDING';
-- Two live backups never share a file.
CREATE UNIQUE INDEX idx_backups_live_path ON backups (storage_path)
  WHERE state IN ('PENDING', 'COMPLETED');

CREATE TABLE backup_files (
  backup_id TEXT COLLATE "C" NOT NULL REFERENCES backups (backup_id) ON DELETE CASCADE,
  path TEXT COLLATE "C" NOT NULL,
  size BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  mode INTEGER NOT NULL DEFAULT 420,
  PRIMARY KEY (backup_id, path)
);

CREATE TABLE jobs (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id TEXT COLLATE "C" NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  collection_namespace TEXT COLLATE "C" NOT NULL,
  collection_name TEXT COLLATE "C" NOT NULL,
  backup_id TEXT COLLATE "C" NOT NULL DEFAULT '',
  params BYTEA,
  result BYTEA,
  phase TEXT NOT NULL DEFAULT 'queued',
  bytes_done BIGINT NOT NULL DEFAULT 0,
  bytes_total BIGINT NOT NULL DEFAULT 0,
  items_done BIGINT NOT NULL DEFAULT 0,
  items_total BIGINT NOT NULL DEFAULT 0,
  attempt INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_expires_at BIGINT NOT NULL DEFAULT 0,
  run_after BIGINT NOT NULL,
  cancel_requested BOOLEAN NOT NULL DEFAULT false,
  error_code INTEGER NOT NULL DEFAULT 0,
  error_message TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  started_at BIGINT NOT NULL DEFAULT 0,
  finished_at BIGINT NOT NULL DEFAULT 0,
  updated_at BIGINT NOT NULL,
  idempotency_key TEXT NOT NULL DEFAULT '',
  request_hash TEXT NOT NULL DEFAULT '',
  submitted_by TEXT NOT NULL DEFAULT ''
);
-- The claim reads QUEUED jobs in seq order; the rescue RUNNING ones by lease expiry.
CREATE INDEX idx_jobs_queued ON jobs (seq) WHERE state = 'QUEUED';
CREATE INDEX idx_jobs_running_lease ON jobs (lease_expires_at) WHERE state = 'RUNNING';
CREATE INDEX idx_jobs_collection ON jobs (collection_namespace, collection_name, state);
CREATE INDEX idx_jobs_backup ON jobs (backup_id, state);
CREATE UNIQUE INDEX idx_jobs_idempotency ON jobs (idempotency_key) WHERE idempotency_key <> '';
CREATE INDEX idx_jobs_finished ON jobs (finished_at) WHERE finished_at > 0;
CREATE INDEX idx_jobs_state ON jobs (state, kind);

CREATE TABLE job_attempts (
  job_id TEXT COLLATE "C" NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
  attempt INTEGER NOT NULL,
  worker TEXT NOT NULL,
  error_code INTEGER NOT NULL,
  error_message TEXT NOT NULL,
  finished_at BIGINT NOT NULL,
  PRIMARY KEY (job_id, attempt)
);
-- A row here means the restore job's temporary copies are complete and verified: from
-- then on the swap only rolls forward.
CREATE TABLE restore_intents (
  job_id TEXT COLLATE "C" PRIMARY KEY REFERENCES jobs (job_id),
  created_at BIGINT NOT NULL
);

CREATE TABLE policies (
  name TEXT COLLATE "C" PRIMARY KEY,
  namespace TEXT COLLATE "C" NOT NULL,
  collection_name TEXT NOT NULL,
  labels JSONB NOT NULL,
  schedule TEXT NOT NULL,
  store TEXT NOT NULL,
  include_files BOOLEAN NOT NULL,
  keep_last INTEGER NOT NULL,
  keep_daily INTEGER NOT NULL,
  keep_weekly INTEGER NOT NULL,
  keep_monthly INTEGER NOT NULL,
  keep_within_s BIGINT NOT NULL,
  verify BOOLEAN NOT NULL,
  jitter_s BIGINT NOT NULL,
  paused BOOLEAN NOT NULL,
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  last_slot BIGINT NOT NULL
);
)sql",
    // 2: nodes (where a collection, a backup and a job live; claims take only their
    // node's jobs and those of none); claims test a collection's restores through an
    // index instead of all its jobs.
    R"sql(
ALTER TABLE collections ADD COLUMN node TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE backups ADD COLUMN node TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN node TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX idx_jobs_collection_kind
  ON jobs (collection_namespace, collection_name, kind, state, seq);
CREATE INDEX idx_jobs_queued_node ON jobs (node, seq) WHERE state = 'QUEUED';
)sql",
};

}  // namespace

Status PostgresControlStore::Migrate() {
  return Transact(
      "migrate",
      [](pg::Connection& c) -> Status {
        BACKUP_TRY(c.Run("SELECT pg_advisory_xact_lock($1)", {kMigrationLock}), "migration lock");
        BACKUP_TRY(c.Exec("CREATE TABLE IF NOT EXISTS backup_schema_version ("
                          "version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"),
                   "version table");
        auto rows = c.Query("SELECT coalesce(max(version), 0) FROM backup_schema_version");
        if (!rows) return Fail(rows.error());
        const int64_t version = rows->Int(0, 0);
        if (version > static_cast<int64_t>(kMigrations.size())) {
          return Fail(Error::FailedPrecondition("control database schema version " +
                                                std::to_string(version) +
                                                " is newer than this binary understands (" +
                                                std::to_string(kMigrations.size()) + ")"));
        }
        for (auto v = version; v < static_cast<int64_t>(kMigrations.size()); ++v) {
          BACKUP_TRY(c.Exec(kMigrations[v]), "migration " + std::to_string(v + 1));
          BACKUP_TRY(c.Run("INSERT INTO backup_schema_version VALUES ($1, now())", {v + 1}),
                     "record migration");
          spdlog::info("control database migrated to schema version {}", v + 1);
        }
        return {};
      },
      /*notify=*/false);
}

}  // namespace backup
