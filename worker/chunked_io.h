// A backup in the chunked format (docs/backup-format.md, "Chunked format"): the snapshot
// and every file cut into chunks (storage/chunk_codec.h), each stored once per collection
// and store in packs of many chunks ("chunks/<ns>/<name>/<pack>"), and one manifest per
// backup listing its chunks in order and where they are. A backup whose chunks are stored
// already (by the backup it is based on) stores only the new ones; each manifest is
// complete, so every backup restores on its own.
//
// Thread-safety: functions may run on several threads for different backups.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "archive_manifest.pb.h"
#include "common/records.h"
#include "storage/backup_store.h"
#include "storage/chunk_codec.h"
#include "storage/codec.h"
#include "worker/archive_io.h"
#include "worker/pack_index_cache.h"
#include "worker/page_snapshot.h"

namespace backup {

// Packs a backup uploads at once (each writer's fsync or PUT overlaps the others'): a
// killed attempt leaves at most this many incomplete, the ones after its last stored pack.
inline constexpr int kPackUploadsInFlight = 3;

// Where a collection's packs live in a store: "chunks/<ns>/<name>/".
std::string PackPrefix(const CollectionName& collection);

// A host's copy of pack indexes for one store (pack_index_cache.h); no cache: null.
struct IndexCacheRef {
  const PackIndexCache* cache = nullptr;
  std::string store;  // the store's name
};

struct ChunkedSource {
  const BackupRecord* backup = nullptr;  // whose backup (id, collection, timestamp)
  PageSnapshot* snapshot = nullptr;
  int db_mode = 0644;
  const PinnedDir* files_dir = nullptr;  // nullptr: no files
  const std::vector<SourceFile>* files = nullptr;
  Tree* tree = nullptr;  // every entry's metadata (with files_dir); files' xattrs added
  // The snapshot's chunks: whole pages, or a part of a page that divides it, stored in
  // frames of a page (0: a quarter page).
  int64_t chunk_bytes = 0;
  int attempt = 1;  // names this attempt's packs
  int64_t pack_bytes = 16 << 20;
  // Called once the snapshot is read (its read transaction may end then).
  std::function<void()> on_snapshot_read;
  // Takes the new packs' indexes and, once the manifest is stored, keeps only its packs'.
  IndexCacheRef index_cache;
};

struct ChunkedStats {
  int64_t chunks = 0;      // in the backup
  int64_t new_chunks = 0;  // stored by it
  int64_t new_bytes = 0;   // its packs and manifest: what it added to the store
  int64_t manifest_bytes = 0;
};

// The index at the end of a pack (formats 3 and 4): its chunks in order, checked (sizes
// possible, frames adding up to where the index starts). Chunk k is plain[k] bytes from
// skip[k] of frame frame[k]; frame f is stored[f] bytes at offset[f], frame_plain[f] once
// decoded, its chunks the frame_count[f] from frame_first[f] (its seal: FrameId of theirs).
struct PackIndex {
  std::vector<ChunkId> ids;
  std::vector<uint32_t> plain;
  std::vector<uint32_t> frame;
  std::vector<uint32_t> skip;
  std::vector<uint64_t> offset;
  std::vector<uint32_t> stored;
  std::vector<uint32_t> frame_plain;
  std::vector<uint32_t> frame_first;
  std::vector<uint32_t> frame_count;
  bool framed = false;  // some frame holds more than one chunk (format 4)
};

// An earlier backup as a new one builds on it: its manifest and the index of each pack it
// names (none for format 2, which a new backup does not build on).
struct ChunkedBase {
  collector::archive::ChunkedManifest manifest;
  std::vector<PackIndex> indexes;  // in the order of manifest.packs()
};

// Writes the chunks this backup does not find in the packs of `base` (an earlier backup of
// the same collection in the same store with the same key, or null) and its manifest at
// `manifest_key`. It consumes the base's indexes (a table of its chunks replaces them). On
// failure, the packs it wrote are removed (best effort: the sweep removes what a killed
// attempt left).
Result<ArchiveWritten> WriteChunked(BackupStore& store, const std::string& manifest_key,
                                    const Compression& compression, const EncryptionKey* key,
                                    const ChunkedSource& source, ChunkedBase* base,
                                    Skipped& skipped, ChunkedStats& stats, JobContext& ctx);

// A chunked backup's manifest as stored, read and authenticated (kDataLoss when it is not
// one, kNotFound when it is missing). Enough to know which packs it names.
Result<collector::archive::ChunkedManifest> LoadChunkedManifest(BackupStore& store,
                                                                const BackupRecord& backup,
                                                                const KeyRing& keys);

// The manifest and its packs' indexes (kDataLoss when one is not well formed), each from
// `cache` when it holds one that checks out, else from the store (and then kept there).
Result<ChunkedBase> LoadChunkedBase(BackupStore& store, const BackupRecord& backup,
                                    const KeyRing& keys, const PackIndexCache* cache = nullptr);

// As ReadArchive (archive_io.h) for a chunked backup: every chunk fetched (pack by pack,
// several at once), authenticated, checked against its id and written at its place; then
// each file's SHA-256 and size checked against the manifest and the catalogue.
Result<std::vector<std::string>> ReadChunked(BackupStore& store, const BackupRecord& backup,
                                             const std::vector<ManifestEntry>& manifest,
                                             const KeyRing& keys, const ArchiveTargets& targets,
                                             JobContext& ctx);

// The quick check: the manifest authenticates and agrees with the catalogue, and every
// pack it names is in the store with the recorded size.
Result<std::vector<std::string>> QuickCheckChunked(BackupStore& store, const BackupRecord& backup,
                                                   const std::vector<ManifestEntry>& manifest,
                                                   const KeyRing& keys);

}  // namespace backup
