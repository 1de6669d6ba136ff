#include "worker/chunk_sweep.h"

#include <set>

#include <spdlog/spdlog.h>

#include "worker/chunked_io.h"

namespace backup {
namespace {

struct Rows {
  std::set<std::string> completed;  // ids of chunked backups whose manifests count
  std::vector<BackupRecord> live;
  bool pending = false;
};

Result<Rows> ReadRows(Catalog& catalog, const std::string& store_name,
                      const CollectionName& collection) {
  BackupQuery query;
  query.collection = collection;
  auto list = catalog.ListBackups(query);
  if (!list) return Fail(list.error());
  Rows rows;
  for (BackupRecord& b : list->backups) {
    if (b.store != store_name || !IsChunked(b)) continue;
    if (b.state == BackupState::kPending) rows.pending = true;
    if (b.state == BackupState::kCompleted || b.state == BackupState::kDeleting) {
      rows.completed.insert(b.id);
      rows.live.push_back(std::move(b));
    }
  }
  return rows;
}

}  // namespace

Result<SweepResult> SweepChunks(Catalog& catalog, const StoreSet& stores,
                                const std::string& store_name, const CollectionName& collection) {
  BackupStore* store = stores.Find(store_name);
  if (store == nullptr) {
    return Fail(Error::FailedPrecondition("store \"" + store_name + "\" is not configured here"));
  }
  SweepResult result;
  auto before = ReadRows(catalog, store_name, collection);
  if (!before) return Fail(before.error());
  if (before->pending) {
    result.deferred = "a backup of the collection is running";
    return result;
  }
  std::set<std::string> used;
  for (const BackupRecord& b : before->live) {
    auto m = LoadChunkedManifest(*store, b, stores.keys());
    if (!m && m.error().code() == Code::kNotFound) {
      // A DELETING backup whose manifest went first, or a backup that lost it: neither can
      // use a chunk again.
      if (b.state == BackupState::kCompleted)
        spdlog::warn(
            "backup={} collection={} has no manifest in {}; its chunks are not kept for it", b.id,
            collection.Key(), store_name);
      continue;
    }
    if (!m) {
      result.deferred = "manifest of " + b.id + ": " + m.error().message();
      return result;
    }
    for (const auto& p : m->packs()) used.insert(p.name());
  }
  const std::string prefix = PackPrefix(collection);
  auto objects = store->List(prefix);
  if (!objects) return Fail(objects.error());
  auto after = ReadRows(catalog, store_name, collection);
  if (!after) return Fail(after.error());
  if (after->pending || after->completed != before->completed) {
    result.deferred = "the collection's backups changed during the sweep";
    return result;
  }
  for (const ObjectInfo& o : *objects) {
    const std::string name = o.key.substr(prefix.size());
    if (name.find('/') != std::string::npos || !name.ends_with(".pack") || used.contains(name)) {
      continue;
    }
    BACKUP_TRY(store->Delete(o.key), "sweep " + collection.Key());
    ++result.packs_removed;
    result.bytes_freed += o.size;
  }
  if (result.packs_removed > 0) {
    spdlog::info("collection={} chunk sweep in {}: {} packs no backup uses removed, {} bytes freed",
                 collection.Key(), store_name, result.packs_removed, result.bytes_freed);
  }
  return result;
}

int64_t SweepAfterRemoval(Catalog& catalog, const StoreSet& stores, const BackupRecord& removed) {
  if (!removed.archived() || !IsChunked(removed)) return 0;
  auto swept = SweepChunks(catalog, stores, removed.store, removed.collection);
  if (!swept) {
    spdlog::warn("backup={} collection={} chunk sweep failed: {}", removed.id,
                 removed.collection.Key(), swept.error().message());
    return 0;
  }
  if (!swept->deferred.empty()) {
    spdlog::info("backup={} collection={} chunk sweep deferred: {}", removed.id,
                 removed.collection.Key(), swept->deferred);
  }
  return swept->bytes_freed;
}

}  // namespace backup
