#include "worker/pack_index_cache.h"

#include <cerrno>
#include <chrono>
#include <set>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/beneath.h"
#include "common/ids.h"
#include "common/sha256.h"

namespace backup {

namespace fs = std::filesystem;

fs::path PackIndexCache::Dir(const std::string& store, const std::string& prefix) const {
  return dir_ / Sha256Hex(store + std::string(1, '\0') + prefix);
}

std::string PackIndexCache::EntryName(const std::string& name) { return Sha256Hex(name); }

std::optional<std::string> PackIndexCache::Get(const std::string& store, const std::string& prefix,
                                               const std::string& name, int64_t size) const {
  const fs::path path = Dir(store, prefix) / EntryName(name);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  // A regular file of exactly `size` bytes, not a link: anything else is not this index.
  if (size <= 0 || fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      st.st_size != size) {
    return std::nullopt;
  }
  std::string bytes(static_cast<size_t>(size), '\0');
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n =
        ::pread(fd.get(), bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    done += static_cast<size_t>(n);
  }
  return bytes;
}

void PackIndexCache::Put(const std::string& store, const std::string& prefix,
                         const std::string& name, std::string_view stored) const {
  const fs::path dir = Dir(store, prefix);
  std::error_code ec;
  fs::create_directories(dir, ec);
  const fs::path entry = dir / EntryName(name);
  const fs::path temp = dir / (EntryName(name) + ".tmp-" + RandomHex(8));
  UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.get() < 0) return;
  bool written = true;
  for (size_t done = 0; written && done < stored.size();) {
    const ssize_t n = ::write(fd.get(), stored.data() + done, stored.size() - done);
    if (n < 0 && errno == EINTR) continue;
    written = n > 0;
    if (written) done += static_cast<size_t>(n);
  }
  // Durable before it is visible: a crash leaves the old entry or the whole new one, never
  // a torn one (which, unsealed, nothing but its structure would check).
  if (!written || ::fsync(fd.get()) != 0) {
    fs::remove(temp, ec);
    return;
  }
  fs::rename(temp, entry, ec);  // replaces the entry itself, never what a link names
  if (ec) fs::remove(temp, ec);
}

void PackIndexCache::Retain(const std::string& store, const std::string& prefix,
                            const std::vector<std::string>& keep) const {
  std::set<std::string> kept;
  for (const std::string& name : keep) kept.insert(EntryName(name));
  std::error_code ec;
  std::vector<fs::path> stale;
  const auto abandoned = fs::file_time_type::clock::now() - std::chrono::minutes(10);
  for (const auto& e : fs::directory_iterator(Dir(store, prefix), ec)) {
    const std::string file = e.path().filename();
    // Another process's entry in the making is left to it, unless it was abandoned.
    const bool making = file.find(".tmp-") != std::string::npos;
    if (making ? e.last_write_time(ec) < abandoned : !kept.contains(file)) {
      stale.push_back(e.path());
    }
  }
  for (const fs::path& p : stale) fs::remove(p, ec);
}

}  // namespace backup
