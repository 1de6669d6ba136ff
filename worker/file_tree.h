// The files half of a backup: list a collection's files folder and copy it, preserving
// the tree, hashing every byte as it passes. Functions are thread-safe.
#pragma once

#include <filesystem>
#include <vector>

#include "common/error.h"
#include "common/records.h"
#include "worker/job_context.h"

namespace backup {

struct SourceFile {
  std::filesystem::path relative;
  int64_t size = 0;
};

// Regular files below `root`, sorted by path. Symlinks are not followed (a link could
// point outside the collection) and are skipped with a warning. A missing root is empty.
Result<std::vector<SourceFile>> ListFiles(const std::filesystem::path& root);

// Copies `files` from `root` into the new folder `dest`, adding bytes and items to ctx's
// progress. Returns the manifest. With `sync`, one syncfs at the end makes the whole tree
// durable (instead of an fsync per file); fails with kCancelled soon after ctx is cancelled.
Result<std::vector<ManifestEntry>> CopyTree(const std::filesystem::path& root,
                                            const std::vector<SourceFile>& files,
                                            const std::filesystem::path& dest, JobContext& ctx,
                                            bool sync = true);

}  // namespace backup
