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

}  // namespace

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
      const SourceFile& f = files[i];
      auto in = OpenFileIn(root, f.relative);
      if (!in && (in.error().code() == Code::kPermissionDenied ||
                  in.error().code() == Code::kFailedPrecondition ||
                  in.error().code() == Code::kNotFound)) {
        spdlog::warn("{} skipping {}: {}", ctx.LogTag(), f.relative.string(), in.error().message());
        std::lock_guard lock(mu);
        skipped.Add(f.relative.generic_string());
        continue;
      }
      struct stat st {};
      int64_t reported = 0;
      auto digest = !in ? Result<FileDigest>(Fail(in.error()))
                    : ::fstat(in->get(), &st) != 0
                        ? Result<FileDigest>(Fail(Error::FromErrno(errno, "stat")))
                        : CopyOpenFileHashed(
                              in->get(), root.display() / f.relative, dest / f.relative,
                              [&](int64_t done) {
                                ctx.AddBytes(done - reported);
                                reported = done;
                                return !ctx.cancelled();
                              },
                              kBackupFileMode);
      if (!digest) {
        std::lock_guard lock(mu);
        if (!first_error) first_error = digest.error();
        return;
      }
      ctx.AddItems(1);
      copied[i] = ManifestEntry{f.relative.generic_string(), digest->size, digest->sha256,
                                static_cast<int>(st.st_mode & 07777)};
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
