#include "storage/store_set.h"

#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "storage/local/local_store.h"
#include "storage/store_config.h"

namespace backup {

Result<std::unique_ptr<StoreSet>> StoreSet::Open(const StoreSetOptions& options,
                                                 const std::filesystem::path& local_root) {
  std::unique_ptr<StoreSet> set(new StoreSet());
  BACKUP_TRY(CreatePrivateDir(local_root), "local store");
  auto local = LocalStore::Open(local_root);
  if (!local) return Fail(local.error());
  set->stores_["local"] = std::move(*local);
  for (const std::string& flag : options.stores) {
    auto parsed = ParseStoreFlag(flag);
    if (!parsed) return Fail(parsed.error());
    if (set->stores_.count(parsed->name) != 0) {
      return Fail(Error::InvalidArgument("--store " + parsed->name +
                                         " is given twice (\"local\" "
                                         "is the built-in <data>/store)"));
    }
    auto store = OpenStore(parsed->url, options.credentials_file);
    if (!store) return Fail(store.error().Context("--store " + parsed->name));
    set->stores_[parsed->name] = std::move(*store);
  }
  if (set->stores_.count(options.default_store) == 0) {
    return Fail(Error::InvalidArgument("--default-store " + options.default_store +
                                       " is not a configured store"));
  }
  set->default_ = options.default_store;
  if (options.format != "archive" && options.format != "chunked") {
    return Fail(Error::InvalidArgument("backup format \"" + options.format.substr(0, 32) +
                                       "\": archive or chunked"));
  }
  set->chunked_ = options.format == "chunked";
  const std::string& spec = !options.compression.empty() ? options.compression
                            : set->chunked_              ? kChunkedCompression
                                                         : kArchiveCompression;
  auto compression = ParseCompression(spec);
  if (!compression) return Fail(compression.error());
  set->compression_ = *compression;
  if (options.chunk_kib < 0 || options.chunk_kib > 1024) {
    return Fail(Error::InvalidArgument("chunk size " + std::to_string(options.chunk_kib) +
                                       " KiB: 0 (one page) to 1024"));
  }
  set->chunk_bytes_ = int64_t{options.chunk_kib} * 1024;
  if (options.snapshot != "pages" && options.snapshot != "vacuum") {
    return Fail(Error::InvalidArgument("snapshot \"" + options.snapshot.substr(0, 32) +
                                       "\": pages or vacuum"));
  }
  set->vacuum_snapshot_ = options.snapshot == "vacuum";
  std::optional<EncryptionKey> current;
  if (options.key_file) {
    auto key = LoadKeyFile(*options.key_file);
    if (!key) return Fail(key.error().Context("--encryption-key-file"));
    current = std::move(*key);
  }
  std::vector<EncryptionKey> old;
  for (const auto& file : options.old_key_files) {
    auto key = LoadKeyFile(file);
    if (!key) return Fail(key.error().Context("--old-encryption-key-file"));
    old.push_back(std::move(*key));
  }
  set->keys_ = KeyRing(std::move(current), std::move(old));
  return set;
}

BackupStore* StoreSet::Find(const std::string& name) const {
  auto it = stores_.find(name);
  return it == stores_.end() ? nullptr : it->second.get();
}

std::vector<std::string> StoreSet::names() const {
  std::vector<std::string> out;
  for (const auto& [name, store] : stores_) out.push_back(name);
  return out;
}

Status StoreSet::CheckAll() const {
  for (const auto& [name, store] : stores_) {
    if (auto ok = store->CheckWritable("backups/"); !ok) {
      return Fail(ok.error().Context("backup store \"" + name + "\" (" + store->Locate("") +
                                     ") is not usable"));
    }
    spdlog::info("backup store \"{}\" at {} is writable", name, store->Locate(""));
  }
  return {};
}

}  // namespace backup
