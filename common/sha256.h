// SHA-256 over OpenSSL's EVP interface, incremental so bytes are hashed while they are
// copied. A Sha256 object belongs to one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <openssl/evp.h>

namespace backup {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  // Returns the digest as 64 lowercase hex digits. The object may not be updated after.
  std::string HexDigest();

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

std::string Sha256Hex(std::string_view data);
std::string ToHex(std::string_view bytes);

}  // namespace backup
