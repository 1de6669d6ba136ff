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

Status BackupPaths::CheckClaimable(const fs::path& relative) {
  const std::string name = relative.filename().string();
  if (name.size() < 4 || name.substr(name.size() - 3) != ".db") {
    return Fail(Error::InvalidArgument("dest_path " + relative.string().substr(0, 200) +
                                       ": a backup's file name must end in \".db\""));
  }
  for (const fs::path& part : relative) {
    const std::string p = part.string();
    const bool files_folder = p.size() >= 6 && p.substr(p.size() - 6) == ".files";
    if (files_folder || p.find(".partial-") != std::string::npos) {
      return Fail(Error::InvalidArgument("dest_path " + relative.string().substr(0, 200) + ": \"" +
                                         p.substr(0, 64) +
                                         "\" is a name reserved for a backup's own files"));
    }
  }
  return {};
}

}  // namespace backup
