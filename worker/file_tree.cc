#include "worker/file_tree.h"

#include <algorithm>
#include <set>
#include <system_error>

#include <spdlog/spdlog.h>

#include "common/fs.h"

namespace backup {
namespace fs = std::filesystem;

Result<std::vector<SourceFile>> ListFiles(const fs::path& root) {
  std::vector<SourceFile> out;
  std::error_code ec;
  if (!fs::exists(root, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    if (entry.is_symlink(ec)) {
      spdlog::warn("skipping symlink {} in files folder {}", entry.path().string(), root.string());
      continue;
    }
    if (!entry.is_regular_file(ec)) continue;
    auto size = entry.file_size(ec);
    if (ec) break;
    out.push_back({fs::relative(entry.path(), root), static_cast<int64_t>(size)});
  }
  if (ec) return Fail(Error::FromErrno(ec.value(), "list files in " + root.string()));
  std::sort(out.begin(), out.end(),
            [](const SourceFile& a, const SourceFile& b) { return a.relative < b.relative; });
  return out;
}

Result<std::vector<ManifestEntry>> CopyTree(const fs::path& root,
                                            const std::vector<SourceFile>& files,
                                            const fs::path& dest, JobContext& ctx, bool sync) {
  BACKUP_TRY(CreateDirs(dest), "copy files");
  std::vector<ManifestEntry> manifest;
  manifest.reserve(files.size());
  std::set<fs::path> made_dirs;
  for (const SourceFile& f : files) {
    if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled while copying files"));
    fs::path target = dest / f.relative;
    if (fs::path parent = target.parent_path(); made_dirs.insert(parent).second) {
      BACKUP_TRY(CreateDirs(parent), "copy files");
    }
    int64_t reported = 0;
    auto digest = CopyFileHashed(root / f.relative, target, [&](int64_t done) {
      ctx.AddBytes(done - reported);
      reported = done;
      return !ctx.cancelled();
    });
    if (!digest) {
      if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled while copying files"));
      return Fail(digest.error().Context("copy files"));
    }
    ctx.AddItems(1);
    manifest.push_back({f.relative.generic_string(), digest->size, digest->sha256});
  }
  if (sync) BACKUP_TRY(SyncFilesystem(dest), "copy files");
  return manifest;
}

}  // namespace backup
