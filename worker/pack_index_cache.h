// A local copy of the pack indexes this host wrote or read, so that a backup finds its
// base's chunks without reading every index from the store again (35 MB of ids a GB of
// database; 0.1-0.3 s from S3). Packs never change once stored, so an index cached under
// its pack's name stays right for as long as the pack exists.
//
// Derived state only: every entry is what the store holds at the pack's end, stored bytes
// as they are (sealed when the backup is), and a reader checks it exactly as one it fetched
// (authenticated when sealed). A missing, short or wrong entry costs a fetch, never a
// backup; the directory may be removed at any time.
//
// Entries live at <dir>/<hex of SHA-256(store, collection prefix)>/<hex of SHA-256(pack
// name)>: no name from a manifest or a store becomes a path.
//
// Thread-safe; several processes may share a directory (entries are renamed into place).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace backup {

class PackIndexCache {
 public:
  explicit PackIndexCache(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // The entry for pack `name` under `prefix` of `store` when it holds `size` bytes.
  std::optional<std::string> Get(const std::string& store, const std::string& prefix,
                                 const std::string& name, int64_t size) const;
  // Stores an entry; failures are ignored (the next reader fetches).
  void Put(const std::string& store, const std::string& prefix, const std::string& name,
           std::string_view stored) const;
  // Removes the entries under `prefix` of `store` other than `keep`'s (after a backup: the
  // packs its manifest names, which the next backup may build on).
  void Retain(const std::string& store, const std::string& prefix,
              const std::vector<std::string>& keep) const;

 private:
  std::filesystem::path Dir(const std::string& store, const std::string& prefix) const;
  static std::string EntryName(const std::string& name);

  std::filesystem::path dir_;
};

}  // namespace backup
