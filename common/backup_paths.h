// Where one backup keeps its bytes on disk, and the temporary names its attempts write
// before their final renames. The worker writes them, verify and restore read them, and
// DeleteBackup removes them; all of them name the paths through this one type.
//   <db>                          the snapshot (its final name, the row's storage_path)
//   <db>.files/                   its files, when the backup includes them
//   <db>.partial-<attempt>        attempt N's snapshot before its rename
//   <db>.files.partial-<attempt>  attempt N's files before their rename
// Each attempt has its own temporary names, so a stale attempt (a worker that lost its
// lease and has not noticed yet) can never remove or replace what the current one writes.
//
// A value type; thread-safe.
#pragma once

#include <filesystem>
#include <string>

#include "common/error.h"

namespace backup {

class BackupPaths {
 public:
  explicit BackupPaths(std::filesystem::path db) : db_(std::move(db)) {}

  const std::filesystem::path& db() const { return db_; }
  std::filesystem::path files() const { return db_.string() + ".files"; }
  std::filesystem::path PartialDb(int attempt) const;
  std::filesystem::path PartialFiles(int attempt) const;
  // Removes every attempt's temporary names (not the final ones).
  Status RemovePartials() const;

  // Whether `relative` (a new backup's database, relative to its backup root) may be
  // claimed: it ends in ".db", and no component is a name some backup owns beside its
  // database (one ending in ".files", or holding ".partial-"). So a backup can never be
  // put inside another's files folder or on another's temporary name, and deleting one
  // backup can never remove a byte of another. kInvalidArgument otherwise.
  static Status CheckClaimable(const std::filesystem::path& relative);

 private:
  std::string PartialDbPrefix() const { return db_.filename().string() + ".partial-"; }
  std::string PartialFilesPrefix() const { return db_.filename().string() + ".files.partial-"; }

  std::filesystem::path db_;
};

}  // namespace backup
