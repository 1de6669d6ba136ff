// The database half of a backup: a consistent online snapshot of a live SQLite
// collection with VACUUM INTO, through a read-only connection, so the collection's own
// readers and writers keep working (WAL mode; VACUUM INTO holds one read transaction).
// Functions are thread-safe; each opens its own connections.
#pragma once

#include <filesystem>

#include "common/error.h"
#include "worker/job_context.h"

namespace backup {

// Bytes the snapshot is expected to write: the source's used pages.
Result<int64_t> EstimateSnapshotBytes(const std::filesystem::path& source);

// A PASSIVE WAL checkpoint, so the snapshot reads fewer WAL frames. It never waits for
// readers or writers. It needs a writable connection (SQLite cannot checkpoint through a
// read-only one); it changes no content, and the snapshot itself stays read-only.
Status CheckpointPassive(const std::filesystem::path& source);

// Writes a snapshot of `source` to the new file `dest` (the path is bound as a
// parameter, never spliced into SQL). Progress is sampled from dest's size; fails with
// kCancelled soon after ctx is cancelled. Does not fsync.
Status VacuumInto(const std::filesystem::path& source, const std::filesystem::path& dest,
                  JobContext& ctx);

// Rows in the `records` table, or in every user table when there is none.
Result<int64_t> CountRecords(const std::filesystem::path& db);

}  // namespace backup
