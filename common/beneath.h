// Folders pinned beneath a trusted root, so that no symlink and no swap can redirect what
// the service reads or writes. A PinnedDir is an O_PATH descriptor of a folder reached from
// its root one component at a time without following any link (openat2 with
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS; an O_NOFOLLOW walk where the kernel lacks it).
// Names inside it are handed out as "/proc/self/fd/<fd>/<name>": the kernel resolves that
// through the pinned folder itself, so code that takes paths (SQLite, std::filesystem, the
// copy helpers) works unchanged, and renaming the folder or putting a symlink in its place
// after the pin changes nothing. The final component is the caller's to check (see
// LstatIn), and every open of a file by this code uses O_NOFOLLOW.
//
// SQLite resolves symlinks in the paths it opens, which would turn such a path back into a
// string; InstallPinnedPathVfs() makes it take "/proc/self/fd/" paths verbatim.
//
// Thread-safety: a PinnedDir is immutable; copies share the descriptor, closed with the last.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace backup {

class PinnedDir {
 public:
  // Pins `root` itself (trusted configuration: the data root or a backup root; it may be
  // reached through links). kNotFound when it does not exist.
  static Result<PinnedDir> Root(const std::filesystem::path& root);

  // Pins the folder `relative` below this one. Fails with kPermissionDenied when a
  // component is a symlink or leads outside, kFailedPrecondition when one is not a folder,
  // kNotFound when missing and !create. With `create`, missing folders are made with
  // `mode` whatever the umask (0700: private to the service).
  Result<PinnedDir> Sub(const std::filesystem::path& relative, bool create,
                        mode_t mode = 0700) const;

  // The path of `name` (one component or a relative path) through the pinned folder.
  std::filesystem::path Path(const std::filesystem::path& name) const;
  // The pinned folder itself ("/proc/self/fd/<fd>").
  std::filesystem::path Self() const;
  // The folder's path when it was pinned, for messages.
  const std::filesystem::path& display() const { return display_; }
  int fd() const;

  // lstat of `name` in this folder (the final component is not followed); nullopt when
  // it does not exist.
  Result<std::optional<struct stat>> LstatIn(const std::string& name) const;

 private:
  struct Handle;
  PinnedDir(std::shared_ptr<Handle> handle, std::filesystem::path display)
      : handle_(std::move(handle)), display_(std::move(display)) {}
  std::shared_ptr<Handle> handle_;
  std::filesystem::path display_;
};

// An open file descriptor, closed at destruction.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }

 private:
  int fd_;
};

// Opens the regular file `relative` below `dir` for reading, never through a link (in any
// component) nor outside `dir`, without blocking on a FIFO. kPermissionDenied for a link
// on the way, kFailedPrecondition for something that is not a regular file.
Result<UniqueFd> OpenFileIn(const PinnedDir& dir, const std::filesystem::path& relative);

// `path` relative to `root` when it is lexically inside it ("a/b"); kPermissionDenied
// otherwise (an absolute path elsewhere, or ".." that climbs out).
Result<std::filesystem::path> RelativeInside(const std::filesystem::path& path,
                                             const std::filesystem::path& root);

// OK when `name` in `dir` is a regular file (not a link, FIFO, device or folder);
// kNotFound when missing; kFailedPrecondition naming what it is otherwise.
Status RequireRegularFile(const PinnedDir& dir, const std::string& name);

// A SQLite database `name` in `dir` that is safe to open: the database a regular file
// (kFailedPrecondition for a link, FIFO, device or folder) and each of its -wal, -shm and
// -journal companions absent or a regular file (SQLite opens them read-write, so a link
// there would let whoever planted it aim the service's writes anywhere). With
// `may_be_absent`, a missing database is fine.
Status RequireSafeDatabase(const PinnedDir& dir, const std::string& name, bool may_be_absent);

// The folder holding `path` pinned below whichever of `roots` contains it (lexically:
// `path` is already resolved), and the last component. With `create`, missing folders
// below the root are made 0700. kPermissionDenied when no root contains it.
struct PinnedName {
  PinnedDir dir;
  std::string name;
  std::filesystem::path path() const { return dir.Path(name); }
};
// OK when `relative` names something below a folder, as every name a backup keeps must:
// not empty, not absolute, no component empty, "." or "..", none longer than NAME_MAX, no
// NUL. kInvalidArgument naming the path (escaped) otherwise. PinBelow checks it, so a
// backup that passes it at backup time passes it at restore.
Status CheckRelativeName(std::string_view relative);

// The folder holding `relative` pinned below `dir` (walked as Sub does, so a path of any
// length works and no link is followed), and its last component: `path()` is short
// whatever `relative`'s length, for code that takes paths. With `create`, missing folders
// are made with `mode`. kPermissionDenied for a name that climbs out or is not one.
Result<PinnedName> PinBelow(const PinnedDir& dir, const std::filesystem::path& relative,
                            bool create, mode_t mode = 0700);

// PinBelow for many names in a row, keeping the last folder pinned: names in byte order
// mostly share the folder of the name before, so a folder is walked once, not once a name.
// Not thread-safe: one per thread.
class FolderPins {
 public:
  FolderPins(PinnedDir root, bool create, mode_t mode = 0700)
      : root_(std::move(root)), create_(create), mode_(mode) {}
  Result<PinnedName> Pin(const std::filesystem::path& relative);
  const PinnedDir& root() const { return root_; }

 private:
  PinnedDir root_;
  bool create_;
  mode_t mode_;
  std::filesystem::path last_folder_;
  std::optional<PinnedDir> last_;
};

Result<PinnedName> PinParent(const std::filesystem::path& path,
                             const std::vector<std::filesystem::path>& roots, bool create,
                             mode_t mode = 0700);

// Registers, once, a default SQLite VFS that takes "/proc/self/fd/" paths verbatim and
// behaves exactly as the unix VFS for every other path.
void InstallPinnedPathVfs();

}  // namespace backup
