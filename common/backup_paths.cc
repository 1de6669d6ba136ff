#include "common/backup_paths.h"

#include "common/fs.h"

namespace backup {
namespace fs = std::filesystem;

fs::path BackupPaths::PartialDb(int attempt) const {
  return db_.parent_path() / (PartialDbPrefix() + std::to_string(attempt));
}

fs::path BackupPaths::PartialFiles(int attempt) const {
  return db_.parent_path() / (PartialFilesPrefix() + std::to_string(attempt));
}

Status BackupPaths::RemovePartials() const {
  BACKUP_TRY(RemoveAllWithPrefix(db_.parent_path(), PartialDbPrefix()), "remove partials");
  return RemoveAllWithPrefix(db_.parent_path(), PartialFilesPrefix());
}

}  // namespace backup
