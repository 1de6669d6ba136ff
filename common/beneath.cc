#include "common/beneath.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sqlite3.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <mutex>

#include "common/text.h"

namespace backup {
namespace fs = std::filesystem;

struct PinnedDir::Handle {
  explicit Handle(int f) : fd(f) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { ::close(fd); }
  int fd;
};

namespace {

constexpr std::string_view kProcFd = "/proc/self/fd/";

Error WalkError(int err, const fs::path& where) {
  if (err == ELOOP || err == EXDEV) {
    return Error::PermissionDenied(where.string() +
                                   " is or passes through a symbolic link; refusing to follow it");
  }
  if (err == ENOTDIR) return Error::FailedPrecondition(where.string() + " is not a folder");
  return Error::FromErrno(err, "open folder " + where.string());
}

// One component below `parent`, never following a link. -1 with errno on failure.
int OpenComponent(int parent, const std::string& name) {
  int fd = ::openat(parent, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    struct stat st {};
    if (err == ENOTDIR && ::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK(st.st_mode)) {
      err = ELOOP;  // a link, not merely something that is not a folder
    }
    errno = err;
    return -1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) {
    ::close(fd);
    errno = ELOOP;
    return -1;
  }
  return fd;
}

// The whole relative path at once where the kernel can check it (Linux 5.6+).
int OpenAt2(int parent, const fs::path& relative) {
  struct open_how how {};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, parent, relative.c_str(), &how, sizeof(how)));
}

// Makes `name` in `parent` as a folder with `mode` whatever the umask; an existing one is
// fine.
Status MakeFolder(int parent, const std::string& name, const fs::path& where, mode_t mode) {
  if (::mkdirat(parent, name.c_str(), mode) != 0) {
    if (errno == EEXIST) return {};
    return Fail(Error::FromErrno(errno, "create folder " + where.string()));
  }
  int fd = ::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Fail(WalkError(errno, where));
  int rc = ::fchmod(fd, mode);
  ::close(fd);
  if (rc != 0) return Fail(Error::FromErrno(errno, "chmod " + where.string()));
  return {};
}

sqlite3_vfs* g_unix_vfs = nullptr;

int PinnedFullPathname(sqlite3_vfs*, const char* path, int size, char* out) {
  if (std::strncmp(path, kProcFd.data(), kProcFd.size()) == 0) {
    size_t n = std::strlen(path);
    if (n + 1 > static_cast<size_t>(size)) return SQLITE_CANTOPEN;
    std::memcpy(out, path, n + 1);
    return SQLITE_OK;
  }
  return g_unix_vfs->xFullPathname(g_unix_vfs, path, size, out);
}

}  // namespace

Result<PinnedDir> PinnedDir::Root(const fs::path& root) {
  int fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Fail(Error::FromErrno(errno, "open folder " + root.string()));
  return PinnedDir(std::make_shared<Handle>(fd), root);
}

int PinnedDir::fd() const { return handle_->fd; }

Result<PinnedDir> PinnedDir::Sub(const fs::path& relative, bool create, mode_t mode) const {
  const fs::path where = display_ / relative;
  if (relative.empty() || relative.is_absolute()) {
    return Fail(Error::InvalidArgument("folder " + relative.string() + " must be relative"));
  }
  for (const fs::path& part : relative) {
    if (part == ".." || part == "." || part.empty()) {
      return Fail(Error::PermissionDenied(where.string() + " climbs out of " + display_.string()));
    }
  }
  // openat2 takes at most PATH_MAX bytes; a longer path (which a file system may well hold)
  // is walked a component at a time, each one short.
  if (!create && relative.native().size() < PATH_MAX) {
    int fd = OpenAt2(handle_->fd, relative);
    if (fd >= 0) return PinnedDir(std::make_shared<Handle>(fd), where);
    if (errno != ENOSYS && errno != EPERM && errno != ENAMETOOLONG) {
      if (errno == ENOENT) return Fail(Error::NotFound(where.string() + " does not exist"));
      return Fail(WalkError(errno, where));
    }
  }
  // The O_NOFOLLOW walk: every component opened from the one before.
  auto current = std::make_shared<Handle>(::dup(handle_->fd));
  if (current->fd < 0) return Fail(Error::FromErrno(errno, "dup"));
  fs::path walked = display_;
  for (const fs::path& part : relative) {
    walked /= part;
    int fd = OpenComponent(current->fd, part.string());
    if (fd < 0 && errno == ENOENT && create) {
      BACKUP_TRY(MakeFolder(current->fd, part.string(), walked, mode), "pin folder");
      fd = OpenComponent(current->fd, part.string());
    }
    if (fd < 0) {
      if (errno == ENOENT) return Fail(Error::NotFound(walked.string() + " does not exist"));
      return Fail(WalkError(errno, walked));
    }
    current = std::make_shared<Handle>(fd);
  }
  return PinnedDir(std::move(current), where);
}

fs::path PinnedDir::Self() const { return std::string(kProcFd) + std::to_string(handle_->fd); }

fs::path PinnedDir::Path(const fs::path& name) const { return Self() / name; }

Result<std::optional<struct stat>> PinnedDir::LstatIn(const std::string& name) const {
  struct stat st {};
  if (::fstatat(handle_->fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    return std::optional<struct stat>(st);
  }
  if (errno == ENOENT) return std::optional<struct stat>();
  return Fail(Error::FromErrno(errno, "stat " + (display_ / name).string()));
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

Result<UniqueFd> OpenFileIn(const PinnedDir& dir, const fs::path& relative) {
  const fs::path where = dir.display() / relative;
  struct open_how how {};
  how.flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  UniqueFd fd;
  if (relative.native().size() < PATH_MAX) {
    fd = UniqueFd(
        static_cast<int>(::syscall(SYS_openat2, dir.fd(), relative.c_str(), &how, sizeof(how))));
  } else {
    errno = ENAMETOOLONG;
  }
  if (fd.get() < 0 && (errno == ENOSYS || errno == EPERM || errno == ENAMETOOLONG)) {
    // No openat2, or a path longer than it takes: pin the folder with the O_NOFOLLOW walk,
    // then open the last component.
    auto parent = relative.has_parent_path() ? dir.Sub(relative.parent_path(), false) : dir;
    if (!parent) return Fail(parent.error());
    fd = UniqueFd(::openat(parent->fd(), relative.filename().c_str(), static_cast<int>(how.flags)));
  }
  if (fd.get() < 0) {
    if (errno == ELOOP || errno == EXDEV) {
      return Fail(
          Error::PermissionDenied(where.string() + " is or passes through a symbolic link"));
    }
    return Fail(Error::FromErrno(errno, "open " + where.string()));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Fail(Error::FromErrno(errno, "stat " + where.string()));
  if (!S_ISREG(st.st_mode)) {
    return Fail(Error::FailedPrecondition(where.string() + " is not a regular file"));
  }
  return fd;
}

Result<fs::path> RelativeInside(const fs::path& path, const fs::path& root) {
  fs::path rel = path.lexically_normal().lexically_relative(root.lexically_normal());
  if (rel.empty() || rel == "." || *rel.begin() == "..") {
    return Fail(Error::PermissionDenied(path.string() + " is not inside " + root.string()));
  }
  return rel;
}

Status RequireRegularFile(const PinnedDir& dir, const std::string& name) {
  auto st = dir.LstatIn(name);
  if (!st) return Fail(st.error());
  const std::string where = (dir.display() / name).string();
  if (!*st) return Fail(Error::NotFound(where + " does not exist"));
  mode_t m = (*st)->st_mode;
  if (S_ISREG(m)) return {};
  const char* what = S_ISLNK(m)    ? "a symbolic link"
                     : S_ISFIFO(m) ? "a FIFO"
                     : S_ISDIR(m)  ? "a folder"
                     : S_ISSOCK(m) ? "a socket"
                                   : "a device";
  return Fail(Error::FailedPrecondition(where + " is " + what +
                                        ", not a regular file; refusing "
                                        "to open it"));
}

Status RequireSafeDatabase(const PinnedDir& dir, const std::string& name, bool may_be_absent) {
  if (auto s = RequireRegularFile(dir, name); !s) {
    if (!(may_be_absent && s.error().code() == Code::kNotFound)) return s;
  }
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    auto s = RequireRegularFile(dir, name + suffix);
    if (!s && s.error().code() != Code::kNotFound) return s;
  }
  return {};
}

Status CheckRelativeName(std::string_view relative) {
  auto refuse = [&](std::string_view why) {
    return Fail(Error::InvalidArgument("\"" + ShowName(relative, 300) + "\" " + std::string(why)));
  };
  if (relative.empty()) return refuse("is empty");
  if (relative.find('\0') != std::string_view::npos) return refuse("holds a NUL byte");
  if (relative.front() == '/') return refuse("is absolute");
  for (size_t at = 0; at <= relative.size();) {
    const size_t end = std::min(relative.find('/', at), relative.size());
    const std::string_view part = relative.substr(at, end - at);
    if (part.empty() || part == "." || part == "..") {
      return refuse("has an empty, \".\" or \"..\" component");
    }
    if (part.size() > NAME_MAX) return refuse("has a component longer than NAME_MAX bytes");
    at = end + 1;
  }
  return {};
}

Result<PinnedName> PinBelow(const PinnedDir& dir, const fs::path& relative, bool create,
                            mode_t mode) {
  if (auto ok = CheckRelativeName(relative.native()); !ok) {
    return Fail(Error::PermissionDenied(ok.error().message() + ": not a name below " +
                                        dir.display().string()));
  }
  const fs::path name = relative.filename();
  if (!relative.has_parent_path()) return PinnedName{dir, name.native()};
  auto parent = dir.Sub(relative.parent_path(), create, mode);
  if (!parent) return Fail(parent.error());
  return PinnedName{*parent, name.native()};
}

Result<PinnedName> FolderPins::Pin(const fs::path& relative) {
  const fs::path folder = relative.parent_path();
  if (folder.empty() || !last_ || folder != last_folder_) {
    auto pinned = PinBelow(root_, relative, create_, mode_);
    if (!pinned) return Fail(pinned.error());
    last_folder_ = folder;
    last_ = pinned->dir;
    return pinned;
  }
  if (auto ok = CheckRelativeName(relative.native()); !ok) {  // as PinBelow checks
    return Fail(Error::PermissionDenied(ok.error().message() + ": not a name below " +
                                        root_.display().string()));
  }
  return PinnedName{*last_, relative.filename().native()};
}

Result<PinnedName> PinParent(const fs::path& path, const std::vector<fs::path>& roots, bool create,
                             mode_t mode) {
  for (const fs::path& root : roots) {
    auto rel = RelativeInside(path, root);
    if (!rel) continue;
    auto pinned_root = PinnedDir::Root(root);
    if (!pinned_root) return Fail(pinned_root.error());
    if (!rel->has_parent_path()) return PinnedName{*pinned_root, rel->filename().string()};
    auto dir = pinned_root->Sub(rel->parent_path(), create, mode);
    if (!dir) return Fail(dir.error());
    return PinnedName{*dir, rel->filename().string()};
  }
  return Fail(Error::PermissionDenied(path.string() + " is not inside any allowed root"));
}

void InstallPinnedPathVfs() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_unix_vfs = sqlite3_vfs_find("unix");
    if (g_unix_vfs == nullptr) return;
    static sqlite3_vfs pinned = *g_unix_vfs;
    pinned.zName = "unix-pinned";
    pinned.pNext = nullptr;
    pinned.xFullPathname = &PinnedFullPathname;
    sqlite3_vfs_register(&pinned, 1);
  });
}

}  // namespace backup
