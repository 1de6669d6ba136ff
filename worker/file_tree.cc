#include "worker/file_tree.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <set>
#include <system_error>
#include <thread>

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
  std::set<fs::path> dirs;
  for (const SourceFile& f : files) dirs.insert((dest / f.relative).parent_path());
  for (const fs::path& d : dirs) BACKUP_TRY(CreateDirs(d), "copy files");

  // Two copiers share the list: SHA-256 is the CPU-heavy part of a copy, and each copier
  // hashes its own files, so both cores work (measured by backup-bench's files scenario).
  std::vector<ManifestEntry> manifest(files.size());
  std::atomic<size_t> next{0};
  std::mutex error_mu;
  std::optional<Error> first_error;
  auto copier = [&] {
    for (size_t i = next++; i < files.size(); i = next++) {
      if (ctx.cancelled()) return;
      {
        std::lock_guard lock(error_mu);
        if (first_error) return;
      }
      const SourceFile& f = files[i];
      int64_t reported = 0;
      auto digest = CopyFileHashed(root / f.relative, dest / f.relative, [&](int64_t done) {
        ctx.AddBytes(done - reported);
        reported = done;
        return !ctx.cancelled();
      });
      if (!digest) {
        std::lock_guard lock(error_mu);
        if (!first_error) first_error = digest.error();
        return;
      }
      ctx.AddItems(1);
      manifest[i] = {f.relative.generic_string(), digest->size, digest->sha256};
    }
  };
  std::thread helper(copier);
  copier();
  helper.join();
  if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled while copying files"));
  if (first_error) return Fail(first_error->Context("copy files"));
  if (sync) BACKUP_TRY(SyncFilesystem(dest), "copy files");
  return manifest;
}

}  // namespace backup
