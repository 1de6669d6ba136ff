// Where everything lives under the data root (default ./data):
//   control.db                                   jobs, backups, collections
//   collections/<ns>/<name>/collection.db        a collection's database
//   files/<ns>/<name>/...                        a collection's files
//   backups/<ns>/<name>/<backup_id>.db[.files/]  the default backup location
//   cache/pack-indexes/                          copies of pack indexes (derived, disposable)
// A value type; thread-safe.
#pragma once

#include <filesystem>
#include <string>

#include "common/names.h"

namespace backup {

class DataLayout {
 public:
  // `root` is made absolute and normal ("./data" -> "/srv/app/data").
  explicit DataLayout(const std::filesystem::path& root)
      : root_(std::filesystem::absolute(root).lexically_normal()) {}

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path ControlDb() const { return root_ / "control.db"; }
  std::filesystem::path CollectionDb(const CollectionName& c) const {
    return root_ / "collections" / c.ns / c.name / "collection.db";
  }
  std::filesystem::path CollectionFilesDir(const CollectionName& c) const {
    return root_ / "files" / c.ns / c.name;
  }
  std::filesystem::path BackupsRoot() const { return root_ / "backups"; }
  std::filesystem::path PackIndexCacheDir() const { return root_ / "cache" / "pack-indexes"; }
  std::filesystem::path DefaultBackupPath(const CollectionName& c, const std::string& id) const {
    return BackupsRoot() / c.ns / c.name / (id + ".db");
  }

 private:
  std::filesystem::path root_;
};

}  // namespace backup
