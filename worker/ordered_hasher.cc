#include "worker/ordered_hasher.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "common/sha256.h"

namespace backup {
namespace {
constexpr int64_t kBlock = 4 << 20;
}  // namespace

OrderedHasher::OrderedHasher(std::vector<File> files)
    : files_(std::move(files)), written_(files_.size()), digests_(files_.size()) {
  thread_ = std::thread([this] { Run(); });
}

OrderedHasher::~OrderedHasher() {
  if (thread_.joinable()) (void)Finish(true);
}

void OrderedHasher::Written(size_t file, int64_t at, int64_t length) {
  if (length <= 0) return;
  {
    std::lock_guard lock(mu_);
    written_[file].emplace(at, at + length);
  }
  cv_.notify_one();
}

Result<std::vector<std::string>> OrderedHasher::Finish(bool writers_failed) {
  {
    std::lock_guard lock(mu_);
    no_more_ = true;
    stop_ = writers_failed;
  }
  cv_.notify_one();
  thread_.join();
  if (!error_) return Fail(error_.error());
  return digests_;
}

int64_t OrderedHasher::Advance(size_t file, int64_t next) {
  auto& ranges = written_[file];
  while (!ranges.empty() && ranges.begin()->first <= next) {
    next = std::max(next, ranges.begin()->second);
    ranges.erase(ranges.begin());
  }
  return next;
}

Status OrderedHasher::HashRange(const File& file, int64_t from, int64_t until, Sha256& sha,
                                std::string& buf) {
  for (int64_t at = from; at < until;) {
    const auto want = static_cast<size_t>(std::min(std::ssize(buf), until - at));
    const ssize_t n = ::pread(file.fd, buf.data(), want, at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(Error::FromErrno(errno, "read back a restored file"));
    if (n == 0) return Fail(Error::Internal("a restored file is shorter than written"));
    sha.Update(buf.data(), static_cast<size_t>(n));
    at += n;
  }
  // The disk starts on what is hashed, here rather than in the writers (where it may wait
  // for the device): the fsync at the end then has little left. Best effort.
  (void)::sync_file_range(file.fd, from, until - from, SYNC_FILE_RANGE_WRITE);
  return {};
}

void OrderedHasher::Run() {
  std::string buf(static_cast<size_t>(kBlock), '\0');
  std::unique_lock lock(mu_);
  for (size_t f = 0; f < files_.size(); ++f) {
    Sha256 sha;
    int64_t next = 0;
    while (next < files_[f].size) {
      int64_t until = next;
      cv_.wait(lock, [&] {
        until = Advance(f, next);
        return stop_ || no_more_ || until > next;
      });
      if (stop_ || until == next) break;  // stopped, or the rest was never written
      lock.unlock();
      error_ = HashRange(files_[f], next, until, sha, buf);
      if (!error_) return;
      lock.lock();
      next = until;
    }
    if (stop_) return;
    if (next == files_[f].size) digests_[f] = sha.HexDigest();
  }
}

}  // namespace backup
