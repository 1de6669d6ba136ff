// Frees the chunks of a collection that no backup uses any more: every pack in
// "chunks/<ns>/<name>/" of a store that no manifest of the collection's backups there
// names is removed (docs/backup-format.md, "Chunked format").
//
// Safe against a backup running at the same time, without a lock: a backup reuses only
// chunks its base's manifest names (a COMPLETED backup, counted live here), and its row is
// PENDING from its submission until its manifest is stored. So the sweep does nothing
// while any chunked backup of the collection in that store is PENDING, and reads the rows
// a second time after listing the packs: a backup submitted or completed in between
// defers the sweep too. Packs a running backup writes after the listing are not in it.
// A manifest that cannot be read (other than missing) defers it as well: nothing is
// removed on doubt. Removing is idempotent, so a sweep killed at any point is finished by
// the next one (after the next delete or backup of the collection).
//
// Thread-safety: stateless; call from any thread.
#pragma once

#include <string>

#include "control/catalog.h"
#include "storage/store_set.h"

namespace backup {

struct SweepResult {
  int64_t packs_removed = 0;
  int64_t bytes_freed = 0;
  std::string deferred;  // why nothing was removed; "" when the sweep ran
};

Result<SweepResult> SweepChunks(Catalog& catalog, const StoreSet& stores,
                                const std::string& store_name, const CollectionName& collection);

// After `removed` (a backup whose row is gone) was deleted: sweeps its collection's chunks
// when it was a chunked backup. Returns the bytes freed; a failed or deferred sweep is
// logged and frees nothing now (the next one will).
int64_t SweepAfterRemoval(Catalog& catalog, const StoreSet& stores, const BackupRecord& removed);

}  // namespace backup
