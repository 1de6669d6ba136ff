// Runs a BACKUP job in named steps:
//   Plan      read the rows; pin the source's folder below the data root and the
//             destination's below its backup root (beneath.h: no link is followed and a
//             swap after this point cannot redirect a read or a write); refuse a source
//             database that is not a regular file; list the files to copy;
//   Snapshot  VACUUM INTO a per-attempt temporary name, hash and fsync it, rename it
//             into place (never replacing anything), fsync the folder, count records;
//   CopyFiles copy the files folder the same way, hashing every byte;
// An archive-format backup (its row names a store) stages the snapshot below the data root
// instead and streams it, with the files, into one archive in the store (RunArchive).
//   Finalize  mark the backup COMPLETED and the job SUCCEEDED in one lease-fenced
//             transaction.
// On any failure or cancellation every file this attempt wrote is removed (scope guards,
// released only after Finalize committed).
//
// Thread-safety: Run() may be called from several threads at once for different jobs.
#pragma once

#include <filesystem>
#include <optional>
#include <vector>

#include "common/clock.h"
#include "control/catalog.h"
#include "storage/store_set.h"
#include "worker/chunked_io.h"
#include "worker/file_tree.h"
#include "worker/job_handler.h"

namespace backup {

struct BackupJobOptions {
  // Where collections live: their databases and files folders are read only below it.
  std::filesystem::path data_root;
  // Where backups may be written.
  std::vector<std::filesystem::path> backup_roots;
  // PASSIVE WAL checkpoints of the source around the snapshot (see snapshot.h).
  bool checkpoint_source = true;
  // Where archive-format backups go (their row names the store); never null.
  const StoreSet* stores = nullptr;
  // Chunked backups: the packs' size (the chunks' is the StoreSet's).
  int64_t pack_bytes = 16 << 20;
  // Chunked backups: where this host keeps pack indexes (pack_index_cache.h; empty: none).
  std::filesystem::path index_cache_dir;
};

class BackupJob final : public JobHandler {
 public:
  BackupJob(Catalog& catalog, const Clock& clock, BackupJobOptions options)
      : catalog_(catalog),
        clock_(clock),
        options_(std::move(options)),
        index_cache_(options_.index_cache_dir) {}
  Status Run(JobContext& ctx) override;

 private:
  struct Plan;
  struct Attempt;
  struct Snapshot;
  struct ArchiveSnapshot;
  Result<Plan> MakePlan(const Job& job) const;
  Status PlanFiles(Plan& plan) const;
  // The snapshot at the backup's final name, its records counted. `durable` (the plain
  // format, where it is the backup): hashed and fsynced. Otherwise it is staged for an
  // archive, which hashes it as it reads it, and a crash loses nothing not redone anyway.
  Result<Snapshot> TakeSnapshot(const Plan& plan, Attempt& attempt, JobContext& ctx,
                                bool durable) const;
  Result<std::vector<ManifestEntry>> CopyFiles(const Plan& plan, Attempt& attempt,
                                               JobContext& ctx) const;
  Status Finalize(const Plan& plan, const Snapshot& snapshot,
                  const std::vector<ManifestEntry>& manifest, const Skipped& skipped,
                  const ObjectInfo* stored, JobContext& ctx) const;
  // The archive format: the snapshot is staged below the data root, then archived with the
  // files into the backup's store (worker/archive_io.h); the staged file is always removed.
  Status RunArchive(Plan& plan, JobContext& ctx) const;
  // An archive's snapshot: page for page from the live database (the default), or a
  // VACUUM INTO copy staged below the data root (--snapshot vacuum).
  Result<ArchiveSnapshot> TakeArchiveSnapshot(const Plan& plan, Attempt& attempt,
                                              JobContext& ctx) const;
  // The page snapshot (page_snapshot.h) and its records counted.
  Result<ArchiveSnapshot> TakePageSnapshot(const Plan& plan, Attempt& attempt,
                                           JobContext& ctx) const;
  // The chunked format (worker/chunked_io.h): the snapshot is read page for page from the
  // live database (page_snapshot.h), cut into chunks with the files, and only the chunks
  // the collection's latest chunked backup in that store does not have are stored.
  Status RunChunked(Plan& plan, JobContext& ctx) const;
  // The newest completed chunked backup of `backup`'s collection in the same store with
  // the same key, with its packs' indexes, or nullopt (none, or it cannot be read, or it
  // has no indexes: a full backup).
  std::optional<ChunkedBase> FindBase(const BackupRecord& backup, JobContext& ctx) const;
  const PackIndexCache* IndexCache() const {
    return options_.index_cache_dir.empty() ? nullptr : &index_cache_;
  }
  // The store, key and compression an archive-format backup's row asks for.
  struct Destination {
    BackupStore* store = nullptr;
    const EncryptionKey* key = nullptr;
    Compression compression;
  };
  Result<Destination> ResolveDestination(const BackupRecord& backup) const;

  Catalog& catalog_;
  const Clock& clock_;
  const BackupJobOptions options_;
  const PackIndexCache index_cache_;  // used when options_.index_cache_dir is set
};

}  // namespace backup
