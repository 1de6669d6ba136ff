#include "common/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>

#include <cerrno>
#include <future>
#include <system_error>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/beneath.h"
#include "common/sha256.h"

namespace backup {
namespace fs = std::filesystem;

namespace {

constexpr size_t kChunkBytes = 1 << 20;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now, reporting the error close(2) may carry for delayed writes.
  Status Close(const fs::path& path) {
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return Fail(Error::FromErrno(errno, "close " + path.string()));
    return {};
  }

 private:
  int fd_;
};

Status FsyncOpen(const fs::path& path, int flags) {
  Fd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (fd.get() < 0) return Fail(Error::FromErrno(errno, "open " + path.string()));
  if (::fsync(fd.get()) != 0) return Fail(Error::FromErrno(errno, "fsync " + path.string()));
  return {};
}

Status WriteAll(int fd, const char* data, size_t size, const fs::path& path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(Error::FromErrno(errno, "write " + path.string()));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return {};
}

Result<size_t> ReadChunk(int fd, std::vector<char>& buf, const fs::path& path) {
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return Fail(Error::FromErrno(errno, "read " + path.string()));
  }
}

// Reads `src` chunk by chunk into the hash, and into `out_fd` when it is >= 0. When
// copying a file larger than one chunk, each chunk is hashed on a helper thread while this
// one writes it and reads the next, so SHA-256 costs (almost) no extra time on two cores;
// a one-chunk file is hashed inline (a thread per small file would cost more than it saves).
Result<FileDigest> Stream(const fs::path& src, int in_fd, int out_fd, const fs::path& dst,
                          const ChunkCallback& on_chunk, int64_t limit = -1) {
  // Reused by every file this thread copies: a fresh 1 MiB buffer per file costs page
  // faults that dominate copying many small files.
  thread_local std::vector<char> bufs[2] = {std::vector<char>(kChunkBytes),
                                            std::vector<char>(kChunkBytes)};
  Sha256 hash;
  FileDigest digest;
  std::future<void> hashing;  // the previous chunk's hash, while it runs
  struct JoinOnExit {
    std::future<void>& f;
    ~JoinOnExit() {
      if (f.valid()) f.wait();
    }
  } join{hashing};
  for (int cur = 0;; cur ^= 1) {
    if (limit >= 0 && digest.size >= limit) break;
    auto n = ReadChunk(in_fd, bufs[cur], src);
    if (!n) return Fail(n.error());
    if (limit >= 0) *n = static_cast<size_t>(std::min<int64_t>(*n, limit - digest.size));
    if (*n == 0) break;
    if (hashing.valid()) hashing.get();  // chunks enter the hash in order
    const char* data = bufs[cur].data();
    if (out_fd >= 0 && (digest.size > 0 || *n == kChunkBytes)) {
      hashing = std::async(std::launch::async, [&hash, data, len = *n] { hash.Update(data, len); });
    } else {
      hash.Update(data, *n);
    }
    if (out_fd >= 0) BACKUP_TRY(WriteAll(out_fd, data, *n, dst), "copy");
    digest.size += static_cast<int64_t>(*n);
    if (on_chunk && !on_chunk(digest.size)) return Fail(Error::Cancelled("cancelled"));
  }
  if (hashing.valid()) hashing.get();
  digest.sha256 = hash.HexDigest();
  return digest;
}

}  // namespace

void WritebackLimiter::Advance(int fd, int64_t size) {
  if (size - started_ < chunk_) return;
  // Best effort: a failure here only means the final fsync has more to do.
  if (started_ > waited_) {
    (void)::sync_file_range(
        fd, waited_, started_ - waited_,
        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
    waited_ = started_;
  }
  (void)::sync_file_range(fd, started_, size - started_, SYNC_FILE_RANGE_WRITE);
  started_ = size;
}

Status FsyncFile(const fs::path& path) { return FsyncOpen(path, O_RDONLY); }

Status FsyncDir(const fs::path& dir) { return FsyncOpen(dir, O_RDONLY | O_DIRECTORY); }

Status SyncFilesystem(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Fail(Error::FromErrno(errno, "open " + path.string()));
  if (::syncfs(fd.get()) != 0) return Fail(Error::FromErrno(errno, "syncfs " + path.string()));
  return {};
}

Status CreateDirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Fail(Error::FromErrno(ec.value(), "create directory " + dir.string()));
  return {};
}

Status CreatePrivateDir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno == EEXIST) return {};
    return Fail(Error::FromErrno(errno, "create directory " + dir.string()));
  }
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0 || ::fchmod(fd.get(), 0700) != 0) {
    return Fail(Error::FromErrno(errno, "chmod " + dir.string()));
  }
  return {};
}

Result<FileDigest> HashFile(const fs::path& path, const ChunkCallback& on_chunk) {
  Fd in(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (in.get() < 0) return Fail(Error::FromErrno(errno, "open " + path.string()));
  struct stat st {};
  if (::fstat(in.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Fail(Error::FailedPrecondition(path.string() + " is not a regular file"));
  }
  ::fcntl(in.get(), F_SETFL, ::fcntl(in.get(), F_GETFL) & ~O_NONBLOCK);
  ::posix_fadvise(in.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  return Stream(path, in.get(), -1, path, on_chunk);
}

Result<FileDigest> CopyFileHashed(const fs::path& src, const fs::path& dst,
                                  const ChunkCallback& on_chunk, std::optional<mode_t> mode) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below).
  Fd in(::open(src.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (in.get() < 0) {
    if (errno == ELOOP) {
      return Fail(Error::FailedPrecondition(src.string() + " is a symbolic link; not followed"));
    }
    return Fail(Error::FromErrno(errno, "open " + src.string()));
  }
  return CopyOpenFileHashed(in.get(), src, dst, on_chunk, mode);
}

Result<FileDigest> CopyOpenFileHashed(int in_fd, const fs::path& src, const fs::path& dst,
                                      const ChunkCallback& on_chunk, std::optional<mode_t> mode) {
  struct stat st {};
  if (::fstat(in_fd, &st) != 0) return Fail(Error::FromErrno(errno, "stat " + src.string()));
  if (!S_ISREG(st.st_mode)) {
    return Fail(Error::FailedPrecondition(src.string() + " is not a regular file"));
  }
  // Reads block from here on (the flag only served the open).
  ::fcntl(in_fd, F_SETFL, ::fcntl(in_fd, F_GETFL) & ~O_NONBLOCK);
  ::posix_fadvise(in_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  const mode_t bits = mode.value_or(st.st_mode & 07777);
  Fd out(::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, bits));
  if (out.get() < 0) return Fail(Error::FromErrno(errno, "create " + dst.string()));
  if (::fchmod(out.get(), bits) != 0) return Fail(Error::FromErrno(errno, "chmod " + dst.string()));
  // The size at open bounds the copy: bytes appended meanwhile belong to a later backup,
  // and the manifest records exactly what was copied.
  auto digest = Stream(src, in_fd, out.get(), dst, on_chunk, st.st_size);
  if (!digest) return digest;
  BACKUP_TRY(out.Close(dst), "copy");
  return digest;
}

Status SetMode(const fs::path& path, mode_t mode) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) return Fail(Error::FromErrno(errno, "open " + path.string()));
  if (::fchmod(fd.get(), mode) != 0) return Fail(Error::FromErrno(errno, "chmod " + path.string()));
  return {};
}

Result<std::vector<std::string>> FolderNames(int dir_fd) {
  const int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Fail(Error::FromErrno(errno, "open folder"));
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    const int err = errno;
    ::close(fd);
    return Fail(Error::FromErrno(err, "read folder"));
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name(e->d_name);
    if (name != "." && name != "..") names.emplace_back(name);
    errno = 0;
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return Fail(Error::FromErrno(err, "read folder"));
  return names;
}

namespace {

// Empties the folder open as `dir`, never following a link, one name at a time through
// descriptors so that a tree of any depth goes. -1 with errno on failure.
int RemoveBelow(int dir) {
  auto names = FolderNames(dir);
  if (!names) {
    errno = EIO;
    return -1;
  }
  for (const std::string& name : *names) {
    if (::unlinkat(dir, name.c_str(), 0) == 0 || errno == ENOENT) continue;
    if (errno != EISDIR && errno != EPERM) return -1;
    UniqueFd sub(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (sub.get() < 0 || RemoveBelow(sub.get()) != 0 ||
        (::unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)) {
      return -1;
    }
  }
  return 0;
}

}  // namespace

Status RemoveAll(const fs::path& path) {
  if (::unlink(path.c_str()) == 0 || errno == ENOENT) return {};  // a file, a link, or nothing
  if (errno != EISDIR && errno != EPERM)
    return Fail(Error::FromErrno(errno, "remove " + path.string()));
  UniqueFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir.get() < 0) return Fail(Error::FromErrno(errno, "remove " + path.string()));
  if (RemoveBelow(dir.get()) != 0 || (::rmdir(path.c_str()) != 0 && errno != ENOENT)) {
    return Fail(Error::FromErrno(errno, "remove " + path.string()));
  }
  return {};
}

Status RemoveAllWithPrefix(const fs::path& dir, const std::string& prefix) {
  std::error_code ec;
  std::vector<fs::path> doomed;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
    if (it->path().filename().string().rfind(prefix, 0) == 0) doomed.push_back(it->path());
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return Fail(Error::FromErrno(ec.value(), "list " + dir.string()));
  }
  for (const fs::path& p : doomed) BACKUP_TRY(RemoveAll(p), "remove");
  return {};
}

Status RenameNoReplace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return {};
  if (errno == EEXIST) {
    return Fail(Error::Unavailable("rename " + from.string() + ": " + to.string() +
                                   " appeared meanwhile (another attempt got there first)"));
  }
  return Fail(Error::FromErrno(errno, "rename " + from.string() + " to " + to.string()));
}

ScopedRemove::~ScopedRemove() {
  if (released_) return;
  if (auto s = RemoveAll(path_); !s) spdlog::warn("cleanup failed: {}", s.error().message());
}

}  // namespace backup
