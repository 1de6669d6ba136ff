// Writing a new backup's job and PENDING row, shared by BackupCollection (server) and the
// policy scheduler: where an archive goes in a store, and the job that makes it.
// Thread-safety: stateless; call from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "backup.pb.h"
#include "control/catalog.h"
#include "storage/store_set.h"

namespace backup {

// Places an archive-format backup in the store `store_name` ("" the default): its store,
// key, location, compression and key id, as `stores` is configured. kInvalidArgument
// naming the configured stores when there is no such store.
Status PlaceInStore(const StoreSet& stores, const CollectionName& name,
                    const std::string& backup_id, const std::string& store_name,
                    BackupRecord& backup);

struct NewBackupJob {
  std::string backup_id;
  int max_attempts = 3;
  std::string idempotency_key;  // "" none
  std::string request_hash;
  std::string submitted_by;
  int64_t now_ms = 0;
};

// Inserts the QUEUED job for `request` and the PENDING row `backup` (already placed) in
// one transaction (Catalog::EnqueueBackup), filling in the rest of `backup`. The job runs on
// the collection's node; the backup lives there too unless its store is shared (see
// control/node_routing.h). kAlreadyExists when the idempotency key or the storage path is
// taken.
Result<Job> EnqueueBackupJob(Catalog& catalog, const StoreSet& stores,
                             const collector::BackupCollectionRequest& request,
                             const CollectionRecord& collection, const NewBackupJob& spec,
                             BackupRecord& backup);

}  // namespace backup
