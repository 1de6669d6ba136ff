#include "worker/file_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <system_error>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "common/text.h"

namespace backup {
namespace fs = std::filesystem;

namespace {

constexpr mode_t kBackupFileMode = 0600;

// Copies one file; nullopt when it is no longer a regular file inside `root` (skipped).
Result<std::optional<ManifestEntry>> CopyOne(const PinnedDir& root, const SourceFile& f,
                                             FolderPins& dest, JobContext& ctx) {
  auto in = OpenListedFile(root, f, ctx);
  if (!in) return Fail(in.error());
  if (!*in) return std::optional<ManifestEntry>();
  int64_t reported = 0;
  // Through its folder's descriptor: a path of any length, no link followed.
  auto target = dest.Pin(f.relative);
  if (!target) return Fail(target.error());
  auto digest = CopyOpenFileHashed((*in)->fd.get(), root.display() / f.relative, target->path(),
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
    spdlog::warn("{} skipping {}: {}", ctx.LogTag(), ShowName(f.relative.native()),
                 in.error().message());
    return std::optional<OpenedFile>();
  }
  struct stat st {};
  if (::fstat(in->get(), &st) != 0) {
    return Fail(Error::FromErrno(errno, "stat " + ShowName(f.relative.native())));
  }
  return std::optional<OpenedFile>(
      OpenedFile{std::move(*in), st.st_size, static_cast<int>(st.st_mode & 07777), st.st_mtime});
}

namespace {

// Files with more than one name inside the folder, by inode (indexes in `out.tree`): the
// first name in byte order stays the FILE whose bytes are stored, the others become
// HARDLINK entries naming it and leave `out.files`.
using LinkGroups = std::map<std::pair<dev_t, ino_t>, std::vector<size_t>>;
void MarkHardLinks(LinkGroups& linked, FileListing& out) {
  std::set<std::string> other_names;
  for (auto& [inode, indexes] : linked) {
    if (indexes.size() < 2) continue;  // its other names are outside the files folder
    std::sort(indexes.begin(), indexes.end(), [&](size_t a, size_t b) {
      return out.tree[static_cast<int>(a)].path() < out.tree[static_cast<int>(b)].path();
    });
    const std::string& first = out.tree[static_cast<int>(indexes.front())].path();
    for (size_t k = 1; k < indexes.size(); ++k) {
      TreeEntry& e = out.tree[static_cast<int>(indexes[k])];
      e.set_type(TreeEntry::HARDLINK);
      e.set_target(first);
      e.clear_data_extents();
      e.clear_xattrs();
      other_names.insert(e.path());
    }
  }
  if (!other_names.empty()) {
    std::erase_if(out.files,
                  [&](const SourceFile& f) { return other_names.contains(f.relative.native()); });
  }
}

// The entries of the folder `folder` (pinned as `dir`) into `out`, its sub-folders onto
// `folders`.
Status ListFolder(const PinnedDir& dir, const fs::path& folder, const PinnedDir& root,
                  std::vector<fs::path>& folders, LinkGroups& linked, FileListing& out) {
  auto names = FolderNames(dir.fd());
  if (!names)
    return Fail(names.error().Context("list files in " + ShowName(dir.display().native())));
  for (const std::string& name : *names) {
    const fs::path relative = folder / name;
    struct stat st {};
    if (::fstatat(dir.fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // removed since it was listed
      return Fail(Error::FromErrno(errno, "list files: stat " + ShowName(relative.native())));
    }
    if (S_ISSOCK(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      spdlog::warn("files folder {}: skipping {} (a socket or a device)", root.display().string(),
                   ShowName(relative.native()));
      out.skipped.Add(relative.generic_string());
      continue;
    }
    auto entry = ReadEntry(dir.fd(), name, relative.native(), st);
    if (!entry && entry.error().code() == Code::kNotFound) continue;  // gone meanwhile
    if (!entry) return Fail(entry.error().Context("list files"));
    if (S_ISDIR(st.st_mode)) folders.push_back(relative);
    if (S_ISREG(st.st_mode)) out.files.push_back({relative, static_cast<int64_t>(st.st_size)});
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      linked[{st.st_dev, st.st_ino}].push_back(static_cast<size_t>(out.tree.size()));
    }
    *out.tree.Add() = std::move(*entry);
  }
  return {};
}

}  // namespace

Result<FileListing> ListFiles(const PinnedDir& root) {
  FileListing out;
  struct stat root_st {};
  if (::fstat(root.fd(), &root_st) != 0) {
    return Fail(Error::FromErrno(errno, "list files: stat " + root.display().string()));
  }
  auto root_entry = ReadEntry(root.fd(), "", "", root_st);
  if (!root_entry) return Fail(root_entry.error().Context("list files"));
  *out.tree.Add() = std::move(*root_entry);
  LinkGroups linked;
  // Folder by folder, each pinned below the root through its own descriptor (beneath.h): no
  // path is ever longer than one name, so a tree of any depth the file system holds is
  // listed, and a link is listed as what it is, never entered.
  std::vector<fs::path> folders{fs::path()};
  while (!folders.empty()) {
    const fs::path folder = std::move(folders.back());
    folders.pop_back();
    auto dir = folder.empty() ? Result<PinnedDir>(root) : root.Sub(folder, false);
    if (!dir) return Fail(dir.error().Context("list files"));
    BACKUP_TRY(ListFolder(*dir, folder, root, folders, linked, out), "list files");
  }
  MarkHardLinks(linked, out);
  // In the order of their bytes, as the catalogue returns a backup's files (ORDER BY path
  // in SQLite's BINARY and PostgreSQL's "C" collation), which the chunked format's reader
  // pairs with its manifest entry by entry.
  std::sort(out.files.begin(), out.files.end(), [](const SourceFile& a, const SourceFile& b) {
    return a.relative.native() < b.relative.native();
  });
  std::sort(out.tree.begin(), out.tree.end(),
            [](const TreeEntry& a, const TreeEntry& b) { return a.path() < b.path(); });
  return out;
}

void KeepRegularFilesOnly(FileListing& listing) {
  std::map<std::string, int64_t> sizes;
  for (const SourceFile& f : listing.files) sizes[f.relative.native()] = f.size;
  for (const TreeEntry& e : listing.tree) {
    if (e.type() == TreeEntry::SYMLINK || e.type() == TreeEntry::FIFO) {
      listing.skipped.Add(e.path());
    } else if (e.type() == TreeEntry::HARDLINK) {
      auto it = sizes.find(e.target());
      if (it != sizes.end()) listing.files.push_back({fs::path(e.path()), it->second});
    }
  }
  std::sort(listing.files.begin(), listing.files.end(),
            [](const SourceFile& a, const SourceFile& b) {
              return a.relative.native() < b.relative.native();
            });
  listing.tree.Clear();
}

Result<std::vector<ManifestEntry>> CopyTree(const PinnedDir& root,
                                            const std::vector<SourceFile>& files,
                                            const fs::path& dest, JobContext& ctx, Skipped& skipped,
                                            bool sync) {
  BACKUP_TRY(CreatePrivateDir(dest), "copy files");
  auto to = PinnedDir::Root(dest);
  if (!to) return Fail(to.error().Context("copy files"));

  // Two copiers share the list: SHA-256 is the CPU-heavy part of a copy, and each copier
  // hashes its own files, so both cores work (measured by backup-bench's files scenario).
  std::vector<std::optional<ManifestEntry>> copied(files.size());
  std::atomic<size_t> next{0};
  std::mutex mu;  // guards first_error and skipped
  std::optional<Error> first_error;
  auto copier = [&] {
    FolderPins pins(*to, /*create=*/true, 0700);  // this copier's own
    for (size_t i = next++; i < files.size(); i = next++) {
      if (ctx.cancelled()) return;
      {
        std::lock_guard lock(mu);
        if (first_error) return;
      }
      auto entry = CopyOne(root, files[i], pins, ctx);
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
