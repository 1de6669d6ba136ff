#include "worker/pack_index_cache.h"

#include <chrono>
#include <fstream>
#include <set>
#include <system_error>

#include "common/fs.h"
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
  std::ifstream in(Dir(store, prefix) / EntryName(name), std::ios::binary);
  if (!in || size <= 0) return std::nullopt;
  std::string bytes(static_cast<size_t>(size), '\0');
  // One byte more than wanted: an entry of another size is not this index.
  if (!in.read(bytes.data(), size) || in.get() != std::ifstream::traits_type::eof()) {
    return std::nullopt;
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
  bool written = false;
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(stored.data(), static_cast<std::streamsize>(stored.size()));
    written = static_cast<bool>(out.flush());
  }
  // Durable before it is visible: a crash leaves the old entry or the whole new one, never
  // a torn one (which, unsealed, nothing but its structure would check).
  if (!written || !FsyncFile(temp)) {
    fs::remove(temp, ec);
    return;
  }
  fs::rename(temp, entry, ec);
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
