#include "storage/local/local_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>

#include "common/fs.h"
#include "common/ids.h"

namespace backup {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPartialMarker = ".partial-";
constexpr int64_t kWriteBehind = 8 << 20;

class LocalWriter final : public ObjectWriter {
 public:
  LocalWriter(PinnedName target, std::string key, std::string display,
              std::optional<int64_t> expected, UniqueFd fd, std::string temp)
      : target_(std::move(target)),
        key_(std::move(key)),
        display_(std::move(display)),
        expected_(expected),
        fd_(std::move(fd)),
        temp_(std::move(temp)) {}
  ~LocalWriter() override { Abort(); }

  Status Write(std::string_view bytes) override {
    if (fd_.get() < 0) return Fail(Error::FailedPrecondition("write to an abandoned object"));
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_.get(), bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        Abort();
        return Fail(Error::FromErrno(err, "write " + display_));
      }
      bytes.remove_prefix(static_cast<size_t>(n));
      written_ += n;
    }
    // The disk starts on what is written as it goes, so the fsync at Commit() has little
    // left (best effort: Commit's fsync is what makes it durable).
    if (written_ - flushed_ >= kWriteBehind) {
      (void)::sync_file_range(fd_.get(), flushed_, written_ - flushed_, SYNC_FILE_RANGE_WRITE);
      flushed_ = written_;
    }
    return {};
  }

  Result<ObjectInfo> Commit() override {
    if (fd_.get() < 0) return Fail(Error::FailedPrecondition("commit an abandoned object"));
    if (expected_ && *expected_ != written_) {
      Abort();
      return Fail(Error::Internal("object " + display_ + ": " + std::to_string(written_) +
                                  " bytes written, " + std::to_string(*expected_) + " announced"));
    }
    if (::fsync(fd_.get()) != 0) {
      int err = errno;
      Abort();
      return Fail(Error::FromErrno(err, "fsync " + display_));
    }
    fd_ = UniqueFd();
    const int dir = target_.dir.fd();
    if (::renameat(dir, temp_.c_str(), dir, target_.name.c_str()) != 0) {
      int err = errno;
      Abort();
      return Fail(Error::FromErrno(err, "rename into " + display_));
    }
    temp_.clear();
    BACKUP_TRY(FsyncDir(target_.dir.Self()), "commit " + display_);
    return ObjectInfo{key_, written_, ""};
  }

  void Abort() override {
    fd_ = UniqueFd();
    if (!temp_.empty()) ::unlinkat(target_.dir.fd(), temp_.c_str(), 0);
    temp_.clear();
  }

 private:
  PinnedName target_;
  std::string key_, display_;
  std::optional<int64_t> expected_;
  UniqueFd fd_;
  std::string temp_;  // the partial name in target_.dir, empty once renamed or removed
  int64_t written_ = 0;
  int64_t flushed_ = 0;  // written back from the start up to here, or under way
};

bool IsPartial(const std::string& name) { return name.find(kPartialMarker) != std::string::npos; }

}  // namespace

Result<std::unique_ptr<LocalStore>> LocalStore::Open(const fs::path& root) {
  auto pinned = PinnedDir::Root(root);
  if (!pinned) return Fail(pinned.error().Context("backup store " + root.string()));
  return std::unique_ptr<LocalStore>(new LocalStore(std::move(*pinned)));
}

std::string LocalStore::Locate(std::string_view key) const {
  return (root_.display() / std::string(key)).string();
}

Result<PinnedName> LocalStore::Resolve(std::string_view key, bool create) const {
  BACKUP_TRY(CheckObjectKey(key), "backup store " + root_.display().string());
  const fs::path rel(key);
  if (IsPartial(rel.filename().string())) {
    return Fail(Error::InvalidArgument("object key " + std::string(key) + " holds \"" +
                                       std::string(kPartialMarker) + "\", kept for uploads"));
  }
  if (!rel.has_parent_path()) return PinnedName{root_, rel.filename().string()};
  auto dir = root_.Sub(rel.parent_path(), create);
  if (!dir) return Fail(dir.error().Context(Locate(key)));
  return PinnedName{std::move(*dir), rel.filename().string()};
}

Result<std::unique_ptr<ObjectWriter>> LocalStore::Put(std::string_view key,
                                                      std::optional<int64_t> size) {
  auto target = Resolve(key, true);
  if (!target) return Fail(target.error());
  const std::string temp = target->name + std::string(kPartialMarker) + RandomHex(8);
  UniqueFd fd(::openat(target->dir.fd(), temp.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.get() < 0) return Fail(Error::FromErrno(errno, "create " + Locate(key)));
  return std::unique_ptr<ObjectWriter>(new LocalWriter(std::move(*target), std::string(key),
                                                       Locate(key), size, std::move(fd), temp));
}

Status LocalStore::Get(std::string_view key, int64_t offset, int64_t length, const ByteSink& sink) {
  auto target = Resolve(key, false);
  if (!target && target.error().code() == Code::kNotFound) {
    return Fail(Error::NotFound("no object " + Locate(key)));
  }
  if (!target) return Fail(target.error());
  auto fd = OpenFileIn(target->dir, target->name);
  if (!fd && fd.error().code() == Code::kNotFound) {
    return Fail(Error::NotFound("no object " + Locate(key)));
  }
  if (!fd) return Fail(fd.error().Context("read " + Locate(key)));
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return Fail(Error::FromErrno(errno, "stat " + Locate(key)));
  const int64_t end = length < 0 ? st.st_size : offset + length;
  if (offset > st.st_size || end > st.st_size) {
    return Fail(Error::DataLoss(Locate(key) + " has " + std::to_string(st.st_size) +
                                " bytes; bytes " + std::to_string(offset) + " to " +
                                std::to_string(end) + " were asked for"));
  }
  ::posix_fadvise(fd->get(), offset, end - offset, POSIX_FADV_SEQUENTIAL);
  std::string buf(1 << 20, '\0');
  for (int64_t at = offset; at < end;) {
    const auto want = static_cast<size_t>(std::min<int64_t>(end - at, std::ssize(buf)));
    ssize_t n = ::pread(fd->get(), buf.data(), want, at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(Error::FromErrno(errno, "read " + Locate(key)));
    if (n == 0) return Fail(Error::DataLoss(Locate(key) + " ended early"));
    if (!sink(std::string_view(buf.data(), static_cast<size_t>(n)))) {
      return Fail(Error::Cancelled("reading " + Locate(key) + " was stopped"));
    }
    at += n;
  }
  return {};
}

Result<std::optional<ObjectInfo>> LocalStore::Stat(std::string_view key) {
  auto target = Resolve(key, false);
  if (!target && target.error().code() == Code::kNotFound) return std::optional<ObjectInfo>{};
  if (!target) return Fail(target.error());
  auto st = target->dir.LstatIn(target->name);
  if (!st) return Fail(st.error());
  if (!*st) return std::optional<ObjectInfo>{};
  if (!S_ISREG((*st)->st_mode)) {
    return Fail(Error::FailedPrecondition(Locate(key) + " is not a regular file"));
  }
  return std::optional<ObjectInfo>(ObjectInfo{std::string(key), (*st)->st_size, ""});
}

Result<std::vector<ObjectInfo>> LocalStore::List(std::string_view prefix) {
  if (!prefix.empty() && prefix.back() != '/') {
    return Fail(Error::InvalidArgument("a listing prefix ends in /"));
  }
  std::vector<ObjectInfo> out;
  PinnedDir dir = root_;
  if (!prefix.empty()) {
    const std::string_view folder = prefix.substr(0, prefix.size() - 1);
    BACKUP_TRY(CheckObjectKey(folder), "list " + Locate(prefix));
    auto sub = root_.Sub(std::string(folder), false);
    if (!sub && sub.error().code() == Code::kNotFound) return out;
    if (!sub) return Fail(sub.error().Context("list " + Locate(prefix)));
    dir = std::move(*sub);
  }
  // The iterator does not follow links to folders; a link is neither listed nor entered.
  std::error_code ec;
  const fs::path base = dir.Self();
  for (auto it = fs::recursive_directory_iterator(base, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    const std::string name = it->path().filename().string();
    if (IsPartial(name)) continue;
    const std::string key = std::string(prefix) + it->path().lexically_relative(base).string();
    if (!CheckObjectKey(key)) continue;
    out.push_back(ObjectInfo{key, static_cast<int64_t>(it->file_size(ec)), ""});
  }
  if (ec) return Fail(Error::FromErrno(ec.value(), "list " + Locate(prefix)));
  std::sort(out.begin(), out.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return out;
}

Status LocalStore::AbortIncomplete(std::string_view key) {
  auto target = Resolve(key, false);
  if (!target && target.error().code() == Code::kNotFound) return {};
  if (!target) return Fail(target.error());
  return RemoveAllWithPrefix(target->dir.Self(), target->name + std::string(kPartialMarker));
}

Status LocalStore::Delete(std::string_view key) {
  auto target = Resolve(key, false);
  if (!target && target.error().code() == Code::kNotFound) return {};
  if (!target) return Fail(target.error());
  if (::unlinkat(target->dir.fd(), target->name.c_str(), 0) != 0 && errno != ENOENT) {
    return Fail(Error::FromErrno(errno, "remove " + Locate(key)));
  }
  return FsyncDir(target->dir.Self());
}

}  // namespace backup
