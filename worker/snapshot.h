// The database half of a backup: a consistent online snapshot of a live SQLite
// collection with VACUUM INTO, through a read-only connection, so the collection's own
// readers and writers keep working (WAL mode; VACUUM INTO holds one read transaction).
// Functions are thread-safe; each opens its own connections.
#pragma once

#include <filesystem>

#include "common/error.h"
#include "common/sqlite.h"
#include "worker/job_context.h"

namespace backup {

// A rollback-journal database whose writer died mid-transaction has a hot journal, which
// only a connection that may write can roll back (SQLite's next connection must, before
// it reads; a read-only one fails with SQLITE_READONLY_ROLLBACK). When `source` has a
// journal beside it, opens it writable and reads its schema, so that SQLite rolls the
// journal back as it would for the application; a journal that is not hot is left alone.
// Changes no committed content.
Status RollBackHotJournal(const std::filesystem::path& source);

// Bytes the snapshot is expected to write: the source's used pages.
Result<int64_t> EstimateSnapshotBytes(const std::filesystem::path& source);

// Writes a snapshot of `source` to the new file `dest` (the path is bound as a
// parameter, never spliced into SQL). Progress is sampled from dest's size; fails with
// kCancelled soon after ctx is cancelled. Its dirty pages are written out as it grows.
//
// With `checkpoint`, a PASSIVE WAL checkpoint runs before the snapshot (so it reads fewer
// WAL frames) and again the moment it ends: the snapshot's read transaction keeps every
// frame the application writes meanwhile out of the database, and the first checkpoint
// after it has all of them to copy. Running it here means the backup pays for it, not
// whichever application writer's auto-checkpoint would get there first (measured: the
// longest application write during a 1 GB backup). PASSIVE never waits for readers or
// writers and changes no content; it needs a writable connection of its own (SQLite cannot
// checkpoint through a read-only one), while the snapshot stays read-only.
Status VacuumInto(const std::filesystem::path& source, const std::filesystem::path& dest,
                  JobContext& ctx, bool checkpoint);

// Rows in the `records` table, or in every user table when there is none.
Result<int64_t> CountRecords(const std::filesystem::path& db);
// The same through an open connection (inside its transaction, if one is open).
Result<int64_t> CountRecordsIn(sql::Database& db);

}  // namespace backup
