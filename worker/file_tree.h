// The files half of a backup: list a collection's files folder and copy it, preserving
// the tree, hashing every byte as it passes. The source is a pinned folder (beneath.h):
// only regular files and folders really inside it are copied, each opened without
// following a link in any component, so a link put in place while the job runs leads
// nowhere; what is not copied is reported, not silently dropped. Functions are thread-safe.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/beneath.h"
#include "common/error.h"
#include "common/records.h"
#include "worker/file_meta.h"
#include "worker/job_context.h"

namespace backup {

struct SourceFile {
  std::filesystem::path relative;
  int64_t size = 0;
};

// Entries that a backup does not copy: sockets, devices, and files that turned into
// something else than a regular file (or moved behind a link) before they were copied.
struct Skipped {
  static constexpr size_t kListed = 100;  // names kept; `count` counts them all
  std::vector<std::string> names;
  int64_t count = 0;
  void Add(std::string name) {
    if (names.size() < kListed) names.push_back(std::move(name));
    ++count;
  }
};

struct FileListing {
  std::vector<SourceFile> files;  // regular files whose bytes are stored, in byte order
  // Every entry (the folder itself as path "", folders, files, links, FIFOs, hard links)
  // with its metadata, in byte order of paths (file_meta.h).
  Tree tree;
  Skipped skipped;  // sockets and devices
};

// Everything below `root`: the regular files to store (one name of each hard-linked file),
// and every entry's metadata. Symbolic links are never followed.
Result<FileListing> ListFiles(const PinnedDir& root);

// For a format that keeps regular files only (the plain format): links and FIFOs join
// `skipped`, the other names of a hard-linked file become files of their own, and the tree
// is dropped.
void KeepRegularFilesOnly(FileListing& listing);

// A listed file opened for reading, with what fstat says of it now.
struct OpenedFile {
  UniqueFd fd;
  int64_t size = 0;
  int mode = 0;  // permission bits
  int64_t mtime = 0;
};
// Opens a listed file inside `root` without following a link in any component; nullopt
// (logged) when it is no longer a regular file there, so the caller skips it.
Result<std::optional<OpenedFile>> OpenListedFile(const PinnedDir& root, const SourceFile& f,
                                                 JobContext& ctx);

// Copies `files` from `root` into the new folder `dest` (folders 0700, files 0600; the
// manifest keeps each source's mode for restore), adding bytes and items to ctx's progress.
// A file that is no longer a regular file inside `root` is added to `skipped`. With `sync`,
// one syncfs at the end makes the tree durable; fails with kCancelled soon after ctx is
// cancelled.
Result<std::vector<ManifestEntry>> CopyTree(const PinnedDir& root,
                                            const std::vector<SourceFile>& files,
                                            const std::filesystem::path& dest, JobContext& ctx,
                                            Skipped& skipped, bool sync = true);

}  // namespace backup
