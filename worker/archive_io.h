// A backup in the archive format (docs/backup-format.md): one object in a backup store,
// a pax tar stream of "database.sqlite" (the snapshot) and "files/<path>" (the collection's
// files), compressed and maybe sealed (storage/codec.h). Written in one pass while it is
// produced, read in one pass while it downloads; memory stays bounded either way.
//
// Thread-safety: functions may run on several threads for different backups.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/beneath.h"
#include "common/fs.h"
#include "common/records.h"
#include "storage/backup_store.h"
#include "storage/codec.h"
#include "worker/file_tree.h"
#include "worker/job_context.h"
#include "worker/page_snapshot.h"

namespace backup {

inline constexpr std::string_view kArchiveDbEntry = "database.sqlite";
inline constexpr std::string_view kArchiveFilesPrefix = "files/";
inline constexpr std::string_view kArchiveManifestEntry = "MANIFEST.json";  // the last entry
// The mode of the folders a restore or a verify makes for the files' folders (0777 less the
// usual umask, as before reads made them through their descriptors).
inline constexpr mode_t kRestoredFolderMode = 0755;

struct ArchiveWritten {
  ObjectInfo put;
  FileDigest db;                        // the snapshot as archived
  std::vector<ManifestEntry> manifest;  // the files as archived
};

struct ArchiveSource {
  const BackupRecord* backup = nullptr;  // whose archive (its id, collection and timestamp)
  std::filesystem::path snapshot;        // the staged snapshot file (when `pages` is null)
  int db_mode = 0644;
  const PinnedDir* files_dir = nullptr;  // nullptr: no files
  const std::vector<SourceFile>* files = nullptr;
  Tree* tree = nullptr;  // every entry's metadata (with files_dir); files' xattrs added
  // The snapshot read page for page from the live database instead of `snapshot`;
  // `on_snapshot_read` runs once it is read (its read transaction may end then).
  PageSnapshot* pages = nullptr;
  std::function<void()> on_snapshot_read;
};

// Writes the archive to `key` in `store` (the snapshot, the files, then MANIFEST.json), sealed with
// `key` when given. A file that is no longer a regular file inside the files folder is added to
// `skipped`; one that shrinks while it is read fails the attempt (kUnavailable: retried); one that
// grows is archived as it was when opened. Nothing is left in the store on failure.
Result<ArchiveWritten> WriteArchive(BackupStore& store, const std::string& object_key,
                                    const Compression& compression, const EncryptionKey* key,
                                    const ArchiveSource& source, Skipped& skipped, JobContext& ctx);

struct ArchiveTargets {
  std::filesystem::path db;                    // the snapshot goes to this new file
  std::optional<std::filesystem::path> files;  // files go below this new folder; else hashed only
  int db_mode = 0600;
  // A chunked backup: check each chunk against its id as it arrives (a verify, which names
  // the chunk that is wrong). A restore skips it: a sealed chunk is authenticated anyway,
  // and every reassembled file must match its recorded SHA-256 before it is used.
  bool check_chunk_ids = true;
  // With `files`: the backup's tree (folders, links, owners, modes, mtimes, ...) is given
  // to them (file_meta.h), and what could not be is said here (may be null).
  TreeReport* report = nullptr;
};

// Reads the backup's archive (or, for a chunked backup, its chunks: ReadChunked): the snapshot into
// targets.db, the files into targets.files, each checked against the catalogue (SHA-256 and size of
// the snapshot, the manifest for files, no entry more or fewer), the whole object authenticated.
// Returns the problems found (empty: every byte is right); an error only for what is not the
// backup's fault (the store unreachable, a missing key, a full disk, cancellation).
Result<std::vector<std::string>> ReadArchive(BackupStore& store, const BackupRecord& backup,
                                             const std::vector<ManifestEntry>& manifest,
                                             const KeyRing& keys, const ArchiveTargets& targets,
                                             JobContext& ctx);

// The paths of `files`, in byte order.
std::vector<std::string> StoredPaths(const std::vector<ManifestEntry>& files);

// The key of a new backup's archive: backups/<ns>/<name>/<backup_id>.tar[.zst][.sealed].
std::string ArchiveKey(const CollectionName& collection, const std::string& backup_id,
                       bool compressed, bool sealed);
// The key of a new chunked backup's manifest (chunked_io.h):
// backups/<ns>/<name>/<backup_id>.chunks[.zst][.sealed].
std::string ChunkedKey(const CollectionName& collection, const std::string& backup_id,
                       bool compressed, bool sealed);
// True when the row's key names a chunked backup's manifest (any attempt's).
bool IsChunked(const BackupRecord& backup);
// The key attempt 1 of a recorded archive-format backup wrote, from its row.
std::string FirstAttemptKey(const BackupRecord& backup);
// The key attempt N writes: the archive key for the first, then "<backup_id>.a<N>" in
// place of "<backup_id>", so a retry never overwrites what an attempt that lost its lease
// may still be storing. The row gets the winning attempt's key when it completes (so the
// storage_path a submission answers is the final one unless the backup was retried).
std::string AttemptKey(const std::string& archive_key, const std::string& backup_id, int attempt);

}  // namespace backup
