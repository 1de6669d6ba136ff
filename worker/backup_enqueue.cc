#include "worker/backup_enqueue.h"

#include <spdlog/spdlog.h>

#include "common/ids.h"
#include "control/node_routing.h"
#include "worker/archive_io.h"

namespace backup {

Status PlaceInStore(const StoreSet& stores, const CollectionName& name,
                    const std::string& backup_id, const std::string& store_name,
                    BackupRecord& backup) {
  const std::string& chosen = store_name.empty() ? stores.default_name() : store_name;
  BackupStore* store = stores.Find(chosen);
  if (store == nullptr) {
    std::string known;
    for (const std::string& n : stores.names()) known += (known.empty() ? "" : ", ") + n;
    return Fail(Error::InvalidArgument("no backup store \"" + chosen.substr(0, 64) +
                                       "\" (configured: " + known + ")"));
  }
  const auto& key = stores.keys().current();
  backup.store = chosen;
  const bool compressed = stores.compression().zstd_level > 0;
  backup.object_key = stores.chunked() ? ChunkedKey(name, backup_id, compressed, key.has_value())
                                       : ArchiveKey(name, backup_id, compressed, key.has_value());
  backup.storage_path = store->Locate(backup.object_key);
  backup.storage_type = std::string(store->type());
  backup.compression = stores.compression().Name();
  backup.key_id = key ? key->id : "";
  return {};
}

Result<Job> EnqueueBackupJob(Catalog& catalog, const StoreSet& stores,
                             const collector::BackupCollectionRequest& request,
                             const CollectionRecord& collection, const NewBackupJob& spec,
                             BackupRecord& backup) {
  const CollectionName& name = collection.name;
  const BackupStore* store = backup.archived() ? stores.Find(backup.store) : nullptr;
  Job job;
  job.node = BackupJobNode(collection);
  job.id = NewJobId();
  job.kind = JobKind::kBackup;
  job.collection = name;
  job.backup_id = spec.backup_id;
  job.params = request.SerializeAsString();
  job.max_attempts = spec.max_attempts;
  job.created_at_ms = spec.now_ms;
  job.idempotency_key = spec.idempotency_key;
  job.request_hash = spec.request_hash;
  job.submitted_by = spec.submitted_by;

  backup.id = spec.backup_id;
  backup.collection = name;
  backup.timestamp = spec.now_ms / 1000;
  backup.created_at_ms = spec.now_ms;
  backup.includes_files = request.include_files();
  backup.metadata.insert(request.metadata().begin(), request.metadata().end());
  backup.job_id = job.id;
  backup.node = BackupNode(collection, store != nullptr && store->shared());
  BACKUP_TRY(catalog.EnqueueBackup(job, backup), name.Key());
  spdlog::info("job={} collection={} backup={} queued to {}", job.id, name.Key(), spec.backup_id,
               backup.storage_path);
  return job;
}

}  // namespace backup
