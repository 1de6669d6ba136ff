// File operations with the durability and cleanup a backup needs: fsync of files and
// folders, copying while hashing, and a scope guard that removes what a failed step
// left behind. Every function is thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>

#include <sys/types.h>
#include <string>

#include "common/error.h"

namespace backup {

// Called after each chunk with the bytes processed so far in this call; returning false
// stops the operation with kCancelled.
using ChunkCallback = std::function<bool(int64_t bytes)>;

Status FsyncFile(const std::filesystem::path& path);
Status FsyncDir(const std::filesystem::path& dir);
// syncfs(2) on the filesystem holding `path`: one call instead of an fsync per file.
Status SyncFilesystem(const std::filesystem::path& path);
Status CreateDirs(const std::filesystem::path& dir);
// Creates the folder `dir` (its parent must exist) with mode 0700 whatever the umask; an
// existing folder is left as it is.
Status CreatePrivateDir(const std::filesystem::path& dir);

struct FileDigest {
  int64_t size = 0;
  std::string sha256;
};

// Reads `path` and returns its size and SHA-256.
Result<FileDigest> HashFile(const std::filesystem::path& path, const ChunkCallback& on_chunk);

// Copies `src` to the new file `dst` (which must not exist; links are not followed),
// hashing the bytes as they pass. `src` must be a regular file (a FIFO or device is
// refused without blocking). Copies exactly the size `src` had when opened, even if it
// grows meanwhile. `dst` gets `mode` (default: the source's permission bits) whatever
// the umask. Does not fsync.
Result<FileDigest> CopyFileHashed(const std::filesystem::path& src,
                                  const std::filesystem::path& dst, const ChunkCallback& on_chunk,
                                  std::optional<mode_t> mode = std::nullopt);
// The same from an open regular file `in_fd` (`src` names it in messages).
Result<FileDigest> CopyOpenFileHashed(int in_fd, const std::filesystem::path& src,
                                      const std::filesystem::path& dst,
                                      const ChunkCallback& on_chunk,
                                      std::optional<mode_t> mode = std::nullopt);
// Sets `path`'s permission bits without following a link at its end.
Status SetMode(const std::filesystem::path& path, mode_t mode);

// Keeps the dirty page cache of a file being written small: every `chunk` bytes it starts
// writeback of the new range and waits for the range before it (sync_file_range), so the
// disk works while the writer goes on, yet the file never builds a backlog of gigabytes
// that a final fsync pushes at once, in front of the application sharing the disk.
// Not thread-safe: one per file being written.
class WritebackLimiter {
 public:
  WritebackLimiter() = default;
  explicit WritebackLimiter(int64_t chunk) : chunk_(chunk) {}
  // `fd` refers to the file; `size` is how far it has been written.
  void Advance(int fd, int64_t size);

 private:
  int64_t chunk_ = 32 << 20;
  int64_t waited_ = 0;   // everything before this is on disk
  int64_t started_ = 0;  // everything before this has been sent to the disk
};

// Removes `path` (a file or a whole tree) when destroyed, unless Release() was called.
class ScopedRemove {
 public:
  explicit ScopedRemove(std::filesystem::path path) : path_(std::move(path)) {}
  ScopedRemove(const ScopedRemove&) = delete;
  ScopedRemove& operator=(const ScopedRemove&) = delete;
  ~ScopedRemove();
  void Release() { released_ = true; }

 private:
  std::filesystem::path path_;
  bool released_ = false;
};

// The names in the folder open as `dir_fd` (an O_PATH descriptor will do; not closed),
// without "." and "..".
Result<std::vector<std::string>> FolderNames(int dir_fd);

// Removes a file or tree (a link is removed, never followed), through descriptors so that
// a tree of any depth goes; a missing path is not an error.
Status RemoveAll(const std::filesystem::path& path);

// Removes every entry of `dir` whose name starts with `prefix` (files or trees).
Status RemoveAllWithPrefix(const std::filesystem::path& dir, const std::string& prefix);

// rename(2) that never replaces: fails with kUnavailable when `to` exists (someone else,
// such as a stale attempt of the same job, got there first).
Status RenameNoReplace(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace backup
