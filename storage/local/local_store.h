// The local folder as a BackupStore: object "a/b" is the file <root>/a/b, mode 0600, in
// folders made 0700. Every name goes through the root pinned at construction (beneath.h),
// so no link below the root and no swap after start-up can turn a read or write elsewhere.
// A writer writes "<name>.partial-<random>" beside the final name and renames it into place
// after fsync, then fsyncs the folder: a reader sees the whole object or none.
//
// Thread-safety: as BackupStore.
#pragma once

#include <filesystem>

#include "common/beneath.h"
#include "storage/backup_store.h"

namespace backup {

class LocalStore final : public BackupStore {
 public:
  // kNotFound when `root` does not exist.
  static Result<std::unique_ptr<LocalStore>> Open(const std::filesystem::path& root);

  std::string_view type() const override { return "local"; }
  std::string Locate(std::string_view key) const override;
  Result<std::unique_ptr<ObjectWriter>> Put(std::string_view key,
                                            std::optional<int64_t> size) override;
  Status Get(std::string_view key, int64_t offset, int64_t length, const ByteSink& sink) override;
  Result<std::optional<ObjectInfo>> Stat(std::string_view key) override;
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  Status Delete(std::string_view key) override;
  Status AbortIncomplete(std::string_view key) override;

  const std::filesystem::path& root() const { return root_.display(); }

 private:
  explicit LocalStore(PinnedDir root) : root_(std::move(root)) {}
  // The key's folder pinned below the root (made when `create`), and its last component.
  Result<PinnedName> Resolve(std::string_view key, bool create) const;

  PinnedDir root_;
};

}  // namespace backup
