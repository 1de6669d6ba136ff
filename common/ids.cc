#include "common/ids.h"

#include <openssl/rand.h>

#include <random>
#include <vector>

#include "common/sha256.h"

namespace backup {

std::string RandomHex(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(bytes)) != 1) {
    std::random_device rd;  // the OS source; RAND_bytes only fails when unseeded
    for (auto& b : buf) b = static_cast<unsigned char>(rd());
  }
  return ToHex(std::string_view(reinterpret_cast<const char*>(buf.data()), buf.size()));
}

std::string NewBackupId(const std::string& ns, const std::string& name, int64_t unix_nanos) {
  std::string data = ns + "/" + name + "@" + std::to_string(unix_nanos) + "#" + RandomHex(8);
  return "backup-" + Sha256Hex(data).substr(0, 16);
}

std::string NewJobId() { return "job-" + RandomHex(8); }

}  // namespace backup
