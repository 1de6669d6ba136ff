// Deleting a backup safely, shared by DeleteBackup (server) and policy retention. The row
// is marked DELETING before any file goes, so a row never points at a missing file without
// saying so, and a repeated delete finishes an interrupted one.
// Thread-safety: stateless; call from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "control/catalog.h"
#include "storage/store_set.h"

namespace backup {

// Removes the backup `backup_id`, its files (a plain backup's database and files folder,
// never through a path that now leads outside `backup_roots`; an archive's object in its
// store, with what killed attempts left) and then its row. Returns the bytes freed.
// kFailedPrecondition while a job uses it (nothing is removed then); kNotFound when it is
// gone (also when a concurrent delete finished it first).
Result<int64_t> RemoveBackup(Catalog& catalog, const StoreSet& stores,
                             const std::vector<std::filesystem::path>& backup_roots,
                             const std::string& backup_id);

}  // namespace backup
