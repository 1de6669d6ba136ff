#include "worker/host_flags.h"

#include <algorithm>
#include <cstdio>
#include <thread>

#include "common/logging.h"

namespace backup {

WorkerHostOptions HostFlags::ToOptions() const {
  WorkerHostOptions options;
  options.data_dir = data_dir;
  options.control = control;
  options.node = node;
  options.extra_backup_roots.assign(backup_roots.begin(), backup_roots.end());
  options.pool.threads = workers;
  options.pool.lease_ms = static_cast<int64_t>(lease_s * 1000);
  options.pool.shutdown_grace_ms = static_cast<int64_t>(grace_s * 1000);
  options.pool.job_retention_ms = static_cast<int64_t>(retention_days * 86'400'000);
  options.restore_lock_wait_ms = static_cast<int>(restore_lock_wait_s * 1000);
  options.stores.stores = stores;
  options.stores.default_store = default_store;
  if (!credentials_file.empty()) options.stores.credentials_file = credentials_file;
  options.stores.compression = compression;
  options.stores.format = backup_format;
  options.stores.chunk_kib = chunk_kib;
  options.stores.snapshot = snapshot;
  if (!key_file.empty()) options.stores.key_file = key_file;
  options.stores.old_key_files.assign(old_key_files.begin(), old_key_files.end());
  options.http_listen = http_listen;
  return options;
}

namespace {

// Where backups go and how they are written: stores, compression, keys.
void AddStoreFlags(CLI::App& app, HostFlags& flags) {
  app.add_option("--store", flags.stores,
                 "a backup store, NAME=URL: an absolute folder or "
                 "s3://BUCKET[/PREFIX][?endpoint=URL&region=R&part_size_mb=N&parts_in_flight=N] "
                 "(repeatable; \"local\" is <data>/store)");
  app.add_option("--default-store", flags.default_store,
                 "where a backup goes when its request names no store and no dest_path")
      ->capture_default_str();
  app.add_option("--s3-credentials-file", flags.credentials_file,
                 "AWS shared credentials file (default: AWS_ACCESS_KEY_ID, "
                 "AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)");
  app.add_option("--backup-format", flags.backup_format,
                 "how new backups are stored: archive (one object per backup) or chunked "
                 "(content-addressed chunks: a repeated backup stores only what changed)")
      ->check(CLI::IsMember({"archive", "chunked"}))
      ->capture_default_str();
  app.add_option("--snapshot", flags.snapshot,
                 "an archive's snapshot: pages (the database as a read transaction sees it, at "
                 "the speed of a copy) or vacuum (VACUUM INTO: compacted, no free pages)")
      ->check(CLI::IsMember({"pages", "vacuum"}))
      ->capture_default_str();
  app.add_option("--chunk-kib", flags.chunk_kib,
                 "chunked: the database's chunk size in KiB: whole pages, or a part of a page "
                 "that divides it (0: a quarter page, the default, the new chunks of a page "
                 "compressed together; a page or more: format 3; BENCHMARKS.md section 12)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  app.add_option("--compression", flags.compression,
                 "zstd:LEVEL[:THREADS] (level 1-19, threads 0-16, default 2) or none "
                 "(default: zstd:3 for archives, zstd:1 for chunked backups, whose one-page "
                 "chunks it compresses as well, 1.5x faster: BENCHMARKS.md section 12)");
  app.add_option("--encryption-key-file", flags.key_file,
                 "32 random bytes (or 64 hex digits), mode 0600: new backups are encrypted "
                 "with it; losing it loses them");
  app.add_option("--old-encryption-key-file", flags.old_key_files,
                 "a previous key, kept to read older backups (repeatable)");
}

}  // namespace

void AddHostFlags(CLI::App& app, HostFlags& flags, int min_workers) {
  flags.workers = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  app.add_option("--data-dir", flags.data_dir, "data root (control.db, collections, backups)")
      ->capture_default_str();
  app.add_option("--control", flags.control,
                 "control database: unset for SQLite at <data-dir>/control.db (one host), or "
                 "postgres://USER@HOST:PORT/DB[?sslmode=verify-full...] shared by a fleet "
                 "(keep the password in PGPASSFILE or PGPASSWORD, not here)")
      ->envname("BACKUP_CONTROL");
  app.add_option("--node", flags.node,
                 "this host's name in a fleet on PostgreSQL: it runs the jobs of the "
                 "collections it holds (default: the host name; not with SQLite)")
      ->envname("BACKUP_NODE");
  app.add_option("--workers", flags.workers,
                 min_workers == 0 ? "worker threads (0: run no jobs)" : "worker threads")
      ->capture_default_str()
      ->check(CLI::Range(min_workers, 256));
  app.add_option("--backup-root", flags.backup_roots,
                 "further folder backups may be written to (repeatable)");
  app.add_option("--lease-seconds", flags.lease_s,
                 "job lease; a dead worker's job is rescued after it")
      ->capture_default_str()
      ->check(CLI::Range(0.5, 3600.0));
  app.add_option("--shutdown-grace-seconds", flags.grace_s,
                 "on SIGTERM, how long running jobs may finish")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--restore-lock-wait-seconds", flags.restore_lock_wait_s,
                 "how long a restore waits for an application's lock on the destination "
                 "database before the attempt fails")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--job-retention-days", flags.retention_days,
                 "finished jobs are pruned after this")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 3650.0));
  AddStoreFlags(app, flags);
  app.add_option("--http-listen", flags.http_listen,
                 "HOST:PORT to serve GET /metrics (Prometheus) on, loopback only; default: off");
  app.add_option("--log-format", flags.log_format, "text or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
}

bool InitLoggingFromFlags(const HostFlags& flags, const char* program) {
  if (auto s = InitLogging(flags.log_format, flags.log_level); !s) {
    std::fprintf(stderr, "%s: %s\n", program, s.error().message().c_str());
    return false;
  }
  return true;
}

}  // namespace backup
