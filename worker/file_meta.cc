#include "worker/file_meta.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <optional>

#include <spdlog/spdlog.h>

#include "common/text.h"

namespace backup {
namespace fs = std::filesystem;

namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;

// The extended attributes a backup keeps and a restore sets: the user's own and POSIX ACLs.
// Never "security.*" (a restored "security.capability" would hand a program privileges)
// nor "trusted.*".
bool KeptXattr(std::string_view name) {
  return name.starts_with("user.") || name == "system.posix_acl_access" ||
         name == "system.posix_acl_default";
}

std::string ProcPath(int dir_fd, const std::string& name) {
  return "/proc/self/fd/" + std::to_string(dir_fd) + "/" + name;
}

// The kept xattrs into `e`, through `list(buf, size)` and `get(name, buf, size)` (the
// listxattr and getxattr of a path or of a descriptor).
template <typename List, typename Get>
Status ReadXattrsWith(const List& list, const Get& get, TreeEntry& e) {
  ssize_t size = list(nullptr, 0);
  if (size < 0 && (errno == ENOTSUP || errno == ENOENT)) return {};
  if (size < 0) return Fail(Error::FromErrno(errno, "list xattrs"));
  if (size == 0) return {};
  std::string names(static_cast<size_t>(size), '\0');
  size = list(names.data(), names.size());
  if (size < 0) return Fail(Error::FromErrno(errno, "list xattrs"));
  names.resize(static_cast<size_t>(size));
  for (size_t at = 0; at < names.size();) {
    const std::string name = names.c_str() + at;
    at += name.size() + 1;
    if (!KeptXattr(name)) continue;
    ssize_t n = get(name.c_str(), nullptr, 0);
    if (n < 0 && errno == ENODATA) continue;  // removed meanwhile
    if (n < 0) return Fail(Error::FromErrno(errno, "read xattr " + ShowName(name)));
    std::string value(static_cast<size_t>(n), '\0');
    n = get(name.c_str(), value.data(), value.size());
    if (n < 0) return Fail(Error::FromErrno(errno, "read xattr " + ShowName(name)));
    value.resize(static_cast<size_t>(n));
    auto* x = e.add_xattrs();
    x->set_name(name);
    x->set_value(std::move(value));
  }
  return {};
}

// `follow`: `path` is a /proc/self/fd/N link to the folder itself, read through.
Status ReadXattrs(const std::string& path, bool follow, TreeEntry& e) {
  const auto list = follow ? ::listxattr : ::llistxattr;
  const auto get = follow ? ::getxattr : ::lgetxattr;
  return ReadXattrsWith(
      [&](char* buf, size_t n) { return list(path.c_str(), buf, n); },
      [&](const char* name, void* buf, size_t n) { return get(path.c_str(), name, buf, n); }, e);
}

Status ReadOpenXattrs(int fd, TreeEntry& e) {
  return ReadXattrsWith(
      [&](char* buf, size_t n) { return ::flistxattr(fd, buf, n); },
      [&](const char* name, void* buf, size_t n) { return ::fgetxattr(fd, name, buf, n); }, e);
}

// The ranges of a file with holes that hold data; nothing for a file without holes.
Status ReadExtents(int dir_fd, const std::string& name, const struct stat& st, TreeEntry& e) {
  if (st.st_blocks * 512 >= st.st_size) return {};  // fully allocated: no hole to keep
  UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) return Fail(Error::FromErrno(errno, "open"));
  std::vector<int64_t> extents;
  for (off_t at = 0; at < st.st_size;) {
    const off_t data = ::lseek(fd.get(), at, SEEK_DATA);
    if (data < 0) break;  // ENXIO: only a hole from here on
    off_t hole = ::lseek(fd.get(), data, SEEK_HOLE);
    if (hole < 0) hole = st.st_size;
    extents.push_back(data);
    extents.push_back(hole - data);
    at = hole;
  }
  if (extents.size() == 2 && extents[0] == 0 && extents[1] >= st.st_size) return {};
  for (int64_t v : extents) e.add_data_extents(v);
  return {};
}

Result<std::string> ReadLinkText(int dir_fd, const std::string& name, const struct stat& st) {
  std::string text(static_cast<size_t>(std::max<off_t>(st.st_size, 255)) + 1, '\0');
  for (;;) {
    const ssize_t n = ::readlinkat(dir_fd, name.c_str(), text.data(), text.size());
    if (n < 0) return Fail(Error::FromErrno(errno, "read link"));
    if (static_cast<size_t>(n) < text.size()) {
      text.resize(static_cast<size_t>(n));
      return text;
    }
    text.resize(text.size() * 2);  // it grew meanwhile
  }
}

}  // namespace

Result<TreeEntry> ReadEntry(int dir_fd, const std::string& name, const std::string& relative,
                            const struct stat& st) {
  TreeEntry e;
  e.set_path(relative);
  e.set_mode(st.st_mode & 07777);
  e.set_uid(st.st_uid);
  e.set_gid(st.st_gid);
  e.set_mtime_ns(static_cast<int64_t>(st.st_mtim.tv_sec) * kNsPerSecond + st.st_mtim.tv_nsec);
  const auto failed = [&](const Error& error) {
    return Fail(error.Context("files folder entry " + ShowName(relative)));
  };
  if (S_ISDIR(st.st_mode)) {
    e.set_type(TreeEntry::DIR);
  } else if (S_ISREG(st.st_mode)) {
    e.set_type(TreeEntry::FILE);
    if (auto s = ReadExtents(dir_fd, name, st, e); !s) return failed(s.error());
  } else if (S_ISLNK(st.st_mode)) {
    e.set_type(TreeEntry::SYMLINK);
    auto text = ReadLinkText(dir_fd, name, st);
    if (!text) return failed(text.error());
    e.set_target(std::move(*text));
    return e;  // a link's own mode is always 0777, and Linux keeps no user xattrs on one
  } else if (S_ISFIFO(st.st_mode)) {
    e.set_type(TreeEntry::FIFO);
  } else {
    return Fail(Error::FailedPrecondition(ShowName(relative) + " is a socket or a device"));
  }
  if (e.type() == TreeEntry::FILE) return e;  // xattrs from the open file: AddOpenFileXattrs
  const std::string path =
      name.empty() ? "/proc/self/fd/" + std::to_string(dir_fd) : ProcPath(dir_fd, name);
  if (auto s = ReadXattrs(path, name.empty(), e); !s) return failed(s.error());
  return e;
}

Status AddOpenFileXattrs(int fd, const std::string& path, Tree& tree) {
  auto it = std::lower_bound(tree.begin(), tree.end(), path,
                             [](const TreeEntry& e, const std::string& p) { return e.path() < p; });
  if (it == tree.end() || it->path() != path || it->type() != TreeEntry::FILE) return {};
  it->clear_xattrs();
  if (auto s = ReadOpenXattrs(fd, *it); !s) {
    return Fail(s.error().Context("files folder entry " + ShowName(path)));
  }
  return {};
}

Tree TreeOfStored(const Tree& tree, const std::vector<std::string>& stored) {
  Tree out;
  for (const TreeEntry& e : tree) {
    const bool kept = e.type() == TreeEntry::FILE
                          ? std::binary_search(stored.begin(), stored.end(), e.path())
                      : e.type() == TreeEntry::HARDLINK
                          ? std::binary_search(stored.begin(), stored.end(), e.target())
                          : true;
    if (kept) *out.Add() = e;
  }
  return out;
}

void TreeReport::NotRestored(const std::string& path, const std::string& why) {
  if (not_restored.size() < kListed) not_restored.push_back(ShowName(path, 300) + ": " + why);
  ++not_restored_count;
}

namespace {

// Punches the holes `e` recorded, where the restored bytes there are all zero (the file may
// have changed between the listing and the read: data is never punched away).
// `self`: the file, as /proc/self/fd/N of an O_PATH descriptor of it.
Status PunchHoles(const std::string& self, const TreeEntry& e, TreeReport& report) {
  UniqueFd fd(::open(self.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
  std::vector<std::pair<int64_t, int64_t>> holes;  // [from, to)
  int64_t at = 0;
  for (int i = 0; i + 1 < e.data_extents_size(); i += 2) {
    const int64_t from = e.data_extents(i), length = e.data_extents(i + 1);
    if (from < at || length < 0 || from > st.st_size) break;  // not ascending: not ours
    if (from > at) holes.emplace_back(at, from);
    at = from + length;
  }
  if (at < st.st_size) holes.emplace_back(at, st.st_size);
  std::string buf(1 << 20, '\0');
  for (const auto& [from, to] : holes) {
    bool zero = true;
    for (int64_t pos = from; zero && pos < to;) {
      const ssize_t n =
          ::pread(fd.get(), buf.data(), std::min<int64_t>(to - pos, std::ssize(buf)), pos);
      if (n <= 0) return Fail(Error::FromErrno(n < 0 ? errno : EIO, "read " + ShowName(e.path())));
      zero = std::all_of(buf.begin(), buf.begin() + n, [](char c) { return c == 0; });
      pos += n;
    }
    if (!zero) continue;
    if (::fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, from, to - from) != 0) {
      report.NotRestored(e.path(), "holes (" + Error::FromErrno(errno, "punch").message() + ")");
      return {};
    }
  }
  return {};
}

// The file type a TreeEntry's type stands for.
mode_t TypeOf(const TreeEntry& e) {
  switch (e.type()) {
    case TreeEntry::DIR:
      return S_IFDIR;
    case TreeEntry::SYMLINK:
      return S_IFLNK;
    case TreeEntry::FIFO:
      return S_IFIFO;
    default:
      return S_IFREG;
  }
}

// Holes, owner, mode, xattrs and mtime of `name` in the folder `dir_fd`, as `e` records
// them.
void SetMetadata(int dir_fd, const std::string& name, const TreeEntry& e, TreeReport& report) {
  const std::string shown = e.path().empty() ? "the files folder" : e.path();
  // Everything below acts on the entry opened here, never on a name that something could
  // swap for a link in between (the service runs as root).
  UniqueFd fd(::openat(dir_fd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || (st.st_mode & S_IFMT) != TypeOf(e)) {
    report.NotRestored(shown, "it changed while it was restored");
    return;
  }
  const std::string self = "/proc/self/fd/" + std::to_string(fd.get());
  if (e.type() == TreeEntry::FILE && e.data_extents_size() > 0) {
    if (auto s = PunchHoles(self, e, report); !s) report.NotRestored(shown, s.error().message());
  }
  // A file keeps setuid/setgid only with the owner it had: never for another user.
  const bool owned =
      ::fchownat(fd.get(), "", e.uid(), e.gid(), AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 ||
      (e.uid() == ::geteuid() && e.gid() == ::getegid());
  if (!owned) ++report.owners_not_restored;
  const std::array<timespec, 2> times{timespec{0, UTIME_OMIT},
                                      timespec{static_cast<time_t>(e.mtime_ns() / kNsPerSecond),
                                               static_cast<long>(e.mtime_ns() % kNsPerSecond)}};
  if (e.type() == TreeEntry::SYMLINK) {  // a link's own mode is always 0777; no xattrs
    if (e.mtime_ns() >= 0 &&
        ::utimensat(dir_fd, name.c_str(), times.data(), AT_SYMLINK_NOFOLLOW) != 0) {
      report.NotRestored(shown, Error::FromErrno(errno, "mtime").message());
    }
    return;
  }
  // Through /proc/self/fd/N: the kernel resolves it to the opened entry itself.
  mode_t mode = static_cast<mode_t>(e.mode() & 07777);
  if (!owned) mode &= ~static_cast<mode_t>(S_ISUID | S_ISGID);
  if (::chmod(self.c_str(), mode) != 0) {
    report.NotRestored(shown, Error::FromErrno(errno, "mode").message());
  }
  for (const auto& x : e.xattrs()) {
    if (!KeptXattr(x.name())) {
      report.NotRestored(shown, "xattr " + ShowName(x.name()) + " is not one a restore sets");
      continue;
    }
    if (::setxattr(self.c_str(), x.name().c_str(), x.value().data(), x.value().size(), 0) != 0) {
      report.NotRestored(shown, Error::FromErrno(errno, "xattr " + ShowName(x.name())).message());
    }
  }
  if (e.mtime_ns() >= 0 && ::utimensat(AT_FDCWD, self.c_str(), times.data(), 0) != 0) {
    report.NotRestored(shown, Error::FromErrno(errno, "mtime").message());
  }
}

// Makes the entry `e` (not a FILE: the backup's reader wrote those) as `name` in `dir`.
// Returns false (reported) when it cannot be made as recorded.
bool MakeEntry(const PinnedDir& root, const PinnedName& at, const TreeEntry& e,
               TreeReport& report) {
  const int dir_fd = at.dir.fd();
  const char* name = at.name.c_str();
  auto existing = at.dir.LstatIn(at.name);
  const bool exists = existing && *existing;
  switch (e.type()) {
    case TreeEntry::FILE:
      if (exists && S_ISREG((*existing)->st_mode)) return true;
      report.NotRestored(e.path(), "its bytes are not in the backup");
      return false;
    case TreeEntry::DIR:
      if (exists && S_ISDIR((*existing)->st_mode)) return true;
      if (::mkdirat(dir_fd, name, 0700) == 0) return true;
      break;
    case TreeEntry::SYMLINK:
      if (e.target().empty() || e.target().find('\0') != std::string::npos) {
        report.NotRestored(e.path(), "the link's text is empty or holds a NUL");
        return false;
      }
      if (::symlinkat(e.target().c_str(), dir_fd, name) == 0) return true;
      break;
    case TreeEntry::FIFO:
      if (::mkfifoat(dir_fd, name, 0600) == 0) return true;
      break;
    case TreeEntry::HARDLINK: {
      auto target = PinBelow(root, e.target(), /*create=*/false);
      auto st = target ? target->dir.LstatIn(target->name)
                       : Result<std::optional<struct stat>>(std::nullopt);
      if (!target || !st || !*st || !S_ISREG((*st)->st_mode)) {
        report.NotRestored(e.path(), "the file it links to is not in the backup");
        return false;
      }
      if (::linkat(target->dir.fd(), target->name.c_str(), dir_fd, name, 0) == 0) return true;
      break;
    }
    default:
      report.NotRestored(e.path(), "an entry of unknown type " + std::to_string(e.type()));
      return false;
  }
  report.NotRestored(e.path(), Error::FromErrno(errno, "create").message());
  return false;
}

}  // namespace

Status ApplyTree(const fs::path& root, const Tree& tree, TreeReport& report) {
  if (tree.empty()) return {};
  auto pinned_root = PinnedDir::Root(root);
  if (!pinned_root) return Fail(pinned_root.error().Context("restore the files' metadata"));
  auto parent = PinnedDir::Root(root.parent_path());
  if (!parent) return Fail(parent.error().Context("restore the files' metadata"));
  // Parents before their contents (a path sorts after every prefix of it).
  std::vector<const TreeEntry*> sorted;
  sorted.reserve(static_cast<size_t>(tree.size()));
  for (const TreeEntry& e : tree) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(),
            [](const TreeEntry* a, const TreeEntry* b) { return a->path() < b->path(); });
  const TreeEntry* root_entry = nullptr;
  std::vector<std::pair<const TreeEntry*, PinnedName>> made;
  made.reserve(sorted.size());
  for (const TreeEntry* e : sorted) {
    if (e->path().empty()) {
      if (e->type() == TreeEntry::DIR) root_entry = e;
      continue;
    }
    // The restore's own check of every name (PinBelow): nothing outside `root`.
    auto at = PinBelow(*pinned_root, e->path(), /*create=*/true, 0700);
    if (!at) {
      if (at.error().code() == Code::kResourceExhausted) return Fail(at.error());
      report.NotRestored(e->path(), at.error().message());
      continue;
    }
    if (MakeEntry(*pinned_root, *at, *e, report)) made.emplace_back(e, std::move(*at));
  }
  // Folders after their contents: the deepest first, the files folder itself last.
  for (const auto& [e, at] : made) {
    if (e->type() != TreeEntry::DIR && e->type() != TreeEntry::HARDLINK) {
      SetMetadata(at.dir.fd(), at.name, *e, report);
    }
  }
  for (auto it = made.rbegin(); it != made.rend(); ++it) {
    if (it->first->type() == TreeEntry::DIR)
      SetMetadata(it->second.dir.fd(), it->second.name, *it->first, report);
  }
  if (root_entry != nullptr) {
    SetMetadata(parent->fd(), root.filename().native(), *root_entry, report);
  }
  if (report.not_restored_count > 0) {
    spdlog::warn("{} entries of the files folder not restored as they were, first: {}",
                 report.not_restored_count, report.not_restored.front());
  }
  return {};
}

}  // namespace backup
