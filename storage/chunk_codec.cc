#include "storage/chunk_codec.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <zstd.h>

#include <cstring>

#include "common/sha256.h"

namespace backup {
namespace {

constexpr std::string_view kAdMagic = "CBKCHNK1";
constexpr std::string_view kIdKeyLabel = "collector-backup chunk id v1";
constexpr unsigned char kRaw = 0;
constexpr unsigned char kZstd = 1;
constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;

std::string AdFor(const std::string& key_id, const ChunkId& id) {
  std::string ad(kAdMagic);
  ad.append(key_id);
  ad.append(reinterpret_cast<const char*>(id.data()), id.size());
  return ad;
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

struct ChunkCodec::Zstd {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_DCtx* d = ZSTD_createDCtx();
  ~Zstd() {
    ZSTD_freeCCtx(c);
    ZSTD_freeDCtx(d);
  }
};

// OpenSSL's SHA-256 fetched once and a context kept: its one-shot SHA256() looks the
// algorithm up under a process-wide lock on every call (measured: 7 % of an incremental
// backup's time in that lock, a million chunks hashed on three threads).
struct ChunkCodec::Sha256 {
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Sha256() {
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
  }
  bool Digest(std::string_view in, ChunkId& out) const {
    unsigned int n = 0;
    return EVP_DigestInit_ex2(ctx, md, nullptr) == 1 &&
           EVP_DigestUpdate(ctx, in.data(), in.size()) == 1 &&
           EVP_DigestFinal_ex(ctx, out.data(), &n) == 1 && n == out.size();
  }
};

Result<std::unique_ptr<ChunkCodec>> ChunkCodec::Create(int zstd_level, const EncryptionKey* key) {
  if (sodium_init() < 0) return Fail(Error::Internal("libsodium could not be initialised"));
  std::unique_ptr<ChunkCodec> codec(new ChunkCodec());
  codec->level_ = zstd_level;
  codec->zstd_ = std::make_unique<Zstd>();
  if (codec->zstd_->c == nullptr || codec->zstd_->d == nullptr) {
    return Fail(Error::Internal("out of memory for zstd"));
  }
  codec->sha256_ = std::make_unique<Sha256>();
  if (codec->sha256_->md == nullptr || codec->sha256_->ctx == nullptr) {
    return Fail(Error::Internal("OpenSSL has no SHA-256"));
  }
  if (key != nullptr) {
    codec->sealed_ = true;
    codec->seal_key_ = key->bytes;
    codec->key_id_ = key->id;
    crypto_generichash(codec->id_key_.data(), codec->id_key_.size(), Bytes(kIdKeyLabel),
                       kIdKeyLabel.size(), key->bytes.data(), key->bytes.size());
  }
  return codec;
}

ChunkCodec::~ChunkCodec() {
  sodium_memzero(seal_key_.data(), seal_key_.size());
  sodium_memzero(id_key_.data(), id_key_.size());
}

std::string_view ChunkCodec::id_scheme() const { return sealed_ ? "blake2b-keyed" : "sha256"; }

ChunkId PackIndexId(std::string_view pack_name) {
  std::string label("collector-backup pack index v1");
  label.push_back('\0');
  label.append(pack_name);
  ChunkId id{};
  SHA256(Bytes(label), label.size(), id.data());
  return id;
}

ChunkId FrameId(const ChunkId* ids, size_t count) {
  if (count == 1) return ids[0];
  std::string label("collector-backup frame v1");
  label.push_back('\0');
  label.append(reinterpret_cast<const char*>(ids), count * sizeof(ChunkId));
  ChunkId id{};
  SHA256(Bytes(label), label.size(), id.data());
  return id;
}

ChunkId ChunkCodec::Id(std::string_view plain) const {
  ChunkId id{};
  if (sealed_) {
    crypto_generichash(id.data(), id.size(), Bytes(plain), plain.size(), id_key_.data(),
                       id_key_.size());
  } else {
    // OpenSSL's, not libsodium's: it uses the CPU's SHA extensions (measured: libsodium's
    // portable SHA-256 took 41 % of a chunked backup's CPU time).
    if (!sha256_->Digest(plain, id)) SHA256(Bytes(plain), plain.size(), id.data());
  }
  return id;
}

Status ChunkCodec::Encode(const ChunkId& id, std::string_view plain, std::string& out) {
  // The flag byte and the payload, in scratch_ (sealed) or straight into out.
  std::string& body = sealed_ ? scratch_ : out;
  const size_t start = sealed_ ? 0 : out.size();
  body.resize(start + 1 + ZSTD_compressBound(plain.size()));
  size_t payload = 0;
  if (level_ > 0) {
    payload = ZSTD_compressCCtx(zstd_->c, body.data() + start + 1, body.size() - start - 1,
                                plain.data(), plain.size(), level_);
    if (ZSTD_isError(payload)) {
      return Fail(Error::Internal(std::string("zstd: ") + ZSTD_getErrorName(payload)));
    }
  }
  if (level_ > 0 && payload < plain.size()) {
    body[start] = static_cast<char>(kZstd);
  } else {
    body[start] = static_cast<char>(kRaw);
    std::memcpy(body.data() + start + 1, plain.data(), plain.size());
    payload = plain.size();
  }
  body.resize(start + 1 + payload);
  if (!sealed_) return {};
  const std::string ad = AdFor(key_id_, id);
  const size_t at = out.size();
  out.resize(at + kNonce + body.size() + kTag);
  auto* nonce = reinterpret_cast<unsigned char*>(out.data() + at);
  randombytes_buf(nonce, kNonce);
  unsigned long long sealed_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + kNonce, &sealed_len, Bytes(body), body.size(),
                                             Bytes(ad), ad.size(), nullptr, nonce,
                                             seal_key_.data());
  out.resize(at + kNonce + sealed_len);
  return {};
}

Result<std::string> ChunkCodec::Decode(const ChunkId& id, std::string_view stored,
                                       int64_t plain_size, bool check_id) {
  std::string plain;
  if (auto s = DecodeAppend(id, stored, plain_size, check_id, plain); !s) return Fail(s.error());
  return plain;
}

Status ChunkCodec::DecodeAppend(const ChunkId& id, std::string_view stored, int64_t plain_size,
                                bool check_id, std::string& out) {
  if (plain_size < 0 || plain_size > kMaxChunkBytes ||
      std::ssize(stored) > plain_size + kChunkOverhead) {
    return Fail(Error::DataLoss("chunk " + ChunkIdHex(id) + " has an impossible size"));
  }
  std::string_view body = stored;
  if (sealed_) {
    if (stored.size() < kNonce + kTag + 1) {
      return Fail(Error::DataLoss("chunk " + ChunkIdHex(id) + " is truncated"));
    }
    const std::string ad = AdFor(key_id_, id);
    scratch_.resize(stored.size() - kNonce - kTag);
    unsigned long long len = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            reinterpret_cast<unsigned char*>(scratch_.data()), &len, nullptr,
            Bytes(stored) + kNonce, stored.size() - kNonce, Bytes(ad), ad.size(), Bytes(stored),
            seal_key_.data()) != 0) {
      return Fail(Error::DataLoss("chunk " + ChunkIdHex(id) + " does not authenticate"));
    }
    scratch_.resize(len);
    body = scratch_;
  }
  if (body.empty()) return Fail(Error::DataLoss("chunk " + ChunkIdHex(id) + " is empty"));
  const size_t start = out.size();
  const auto flag = static_cast<unsigned char>(body[0]);
  body.remove_prefix(1);
  if (flag == kRaw) {
    out.append(body);
  } else if (flag == kZstd) {
    out.resize(start + static_cast<size_t>(plain_size));
    const size_t n = ZSTD_decompressDCtx(zstd_->d, out.data() + start,
                                         static_cast<size_t>(plain_size), body.data(), body.size());
    if (ZSTD_isError(n)) {
      out.resize(start);
      return Fail(Error::DataLoss("chunk " + ChunkIdHex(id) + " does not decompress"));
    }
    out.resize(start + n);
  } else {
    return Fail(Error::DataLoss("chunk " + ChunkIdHex(id) + " has an unknown encoding"));
  }
  const std::string_view plain(out.data() + start, out.size() - start);
  if (std::ssize(plain) != plain_size || (check_id && Id(plain) != id)) {
    out.resize(start);
    return Fail(Error::DataLoss("chunk " + ChunkIdHex(id) + " does not match its id"));
  }
  return {};
}

std::string ChunkIdHex(const ChunkId& id) {
  return ToHex(std::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}

}  // namespace backup
