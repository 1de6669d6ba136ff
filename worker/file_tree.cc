#include "worker/file_tree.h"

#include <sys/stat.h>

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

namespace {

constexpr mode_t kBackupFileMode = 0600;

// Makes `dir` and its missing parents below `dest` as 0700 folders, whatever the umask.
Status MakePrivateDirs(const fs::path& dest, const fs::path& relative) {
  fs::path current = dest;
  for (const fs::path& part : relative) {
    current /= part;
    BACKUP_TRY(CreatePrivateDir(current), "copy files");
  }
  return {};
}

// Copies one file; nullopt when it is no longer a regular file inside `root` (skipped).
Result<std::optional<ManifestEntry>> CopyOne(const PinnedDir& root, const SourceFile& f,
                                             const fs::path& dest, JobContext& ctx) {
  auto in = OpenListedFile(root, f, ctx);
  if (!in) return Fail(in.error());
  if (!*in) return std::optional<ManifestEntry>();
  int64_t reported = 0;
  auto digest = CopyOpenFileHashed((*in)->fd.get(), root.display() / f.relative, dest / f.relative,
                                   [&](int64_t done) {
                                     ctx.AddBytes(done - reported);
                                     reported = done;
                                     return !ctx.cancelled();
                                   },
                                   kBackupFileMode);
  if (!digest) return Fail(digest.error());
  ctx.AddItems(1);
  return std::optional<ManifestEntry>(
      ManifestEntry{f.relative.generic_string(), digest->size, digest->sha256, (*in)->mode});
}

}  // namespace

Result<std::optional<OpenedFile>> OpenListedFile(const PinnedDir& root, const SourceFile& f,
                                                 JobContext& ctx) {
  auto in = OpenFileIn(root, f.relative);
  if (!in) {
    const Code code = in.error().code();
    if (code != Code::kPermissionDenied && code != Code::kFailedPrecondition &&
        code != Code::kNotFound) {
      return Fail(in.error());
    }
    spdlog::warn("{} skipping {}: {}", ctx.LogTag(), f.relative.string(), in.error().message());
    return std::optional<OpenedFile>();
  }
  struct stat st {};
  if (::fstat(in->get(), &st) != 0) {
    return Fail(Error::FromErrno(errno, "stat " + f.relative.string()));
  }
  return std::optional<OpenedFile>(
      OpenedFile{std::move(*in), st.st_size, static_cast<int>(st.st_mode & 07777), st.st_mtime});
}

Result<FileListing> ListFiles(const PinnedDir& root) {
  FileListing out;
  const fs::path base = root.Self();
  std::error_code ec;
  // directory_options::none: links to folders are listed, never entered.
  for (auto it = fs::recursive_directory_iterator(base, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    const fs::path relative = entry.path().lexically_relative(base);  // never resolves links
    auto st = entry.symlink_status(ec);
    if (ec) break;
    if (fs::is_directory(st)) continue;
    if (!fs::is_regular_file(st)) {
      spdlog::warn("files folder {}: skipping {} (not a regular file)", root.display().string(),
                   relative.string());
      out.skipped.Add(relative.generic_string());
      continue;
    }
    auto size = entry.file_size(ec);
    if (ec) break;
    out.files.push_back({relative, static_cast<int64_t>(size)});
  }
  if (ec) return Fail(Error::FromErrno(ec.value(), "list files in " + root.display().string()));
  std::sort(out.files.begin(), out.files.end(),
            [](const SourceFile& a, const SourceFile& b) { return a.relative < b.relative; });
  return out;
}

Result<std::vector<ManifestEntry>> CopyTree(const PinnedDir& root,
                                            const std::vector<SourceFile>& files,
                                            const fs::path& dest, JobContext& ctx, Skipped& skipped,
                                            bool sync) {
  BACKUP_TRY(MakePrivateDirs(dest.parent_path(), dest.filename()), "copy files");
  std::set<fs::path> dirs;
  for (const SourceFile& f : files) {
    if (f.relative.has_parent_path()) dirs.insert(f.relative.parent_path());
  }
  for (const fs::path& d : dirs) BACKUP_TRY(MakePrivateDirs(dest, d), "copy files");

  // Two copiers share the list: SHA-256 is the CPU-heavy part of a copy, and each copier
  // hashes its own files, so both cores work (measured by backup-bench's files scenario).
  std::vector<std::optional<ManifestEntry>> copied(files.size());
  std::atomic<size_t> next{0};
  std::mutex mu;  // guards first_error and skipped
  std::optional<Error> first_error;
  auto copier = [&] {
    for (size_t i = next++; i < files.size(); i = next++) {
      if (ctx.cancelled()) return;
      {
        std::lock_guard lock(mu);
        if (first_error) return;
      }
      auto entry = CopyOne(root, files[i], dest, ctx);
      std::lock_guard lock(mu);
      if (!entry) {
        if (!first_error) first_error = entry.error();
        return;
      }
      if (*entry) {
        copied[i] = std::move(*entry);
      } else {
        skipped.Add(files[i].relative.generic_string());
      }
    }
  };
  std::thread helper(copier);
  copier();
  helper.join();
  if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled while copying files"));
  if (first_error) return Fail(first_error->Context("copy files"));
  if (sync) BACKUP_TRY(SyncFilesystem(dest), "copy files");
  std::vector<ManifestEntry> manifest;
  for (auto& entry : copied) {
    if (entry) manifest.push_back(std::move(*entry));
  }
  return manifest;
}

}  // namespace backup
