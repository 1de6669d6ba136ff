#include "storage/codec.h"

#include <sodium.h>
#include <sys/stat.h>
#include <zstd.h>

#include <charconv>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>

#include "common/sha256.h"

namespace backup {

namespace {

constexpr std::string_view kMagic = "CBKSEAL1";  // 8 bytes
constexpr size_t kKeyIdLen = 16;
constexpr size_t kPrefixLen = kMagic.size() + kKeyIdLen;  // authenticated with every record
constexpr size_t kHeaderLen = kPrefixLen + crypto_secretstream_xchacha20poly1305_HEADERBYTES;
constexpr size_t kRecord = 1 << 20;  // plain bytes per sealed record, at most
constexpr size_t kLenBytes = 4;

std::once_flag sodium_once;
bool sodium_ok = false;

Status InitSodium() {
  std::call_once(sodium_once, [] { sodium_ok = sodium_init() >= 0; });
  if (!sodium_ok) return Fail(Error::Internal("libsodium could not be initialised"));
  return {};
}

std::string KeyId(const std::array<unsigned char, 32>& key) {
  static constexpr std::string_view kLabel = "collector-backup key id v1";
  unsigned char out[kKeyIdLen / 2];
  crypto_generichash(out, sizeof(out), reinterpret_cast<const unsigned char*>(kLabel.data()),
                     kLabel.size(), key.data(), key.size());
  return ToHex(std::string_view(reinterpret_cast<const char*>(out), sizeof(out)));
}

// Seals plain bytes into records: [4-byte big-endian length][ciphertext], the last one
// tagged FINAL. Every record authenticates the magic and the key id as additional data.
class Sealer {
 public:
  Sealer(const EncryptionKey& key, ByteOut out) : key_(key), out_(std::move(out)) {
    prefix_ = std::string(kMagic) + key.id;
  }
  ~Sealer() { sodium_memzero(&state_, sizeof(state_)); }

  Status Write(std::string_view plain) {
    while (!plain.empty()) {
      const size_t take = std::min(kRecord - pending_.size(), plain.size());
      pending_.append(plain.substr(0, take));
      plain.remove_prefix(take);
      if (pending_.size() == kRecord) BACKUP_TRY(Push(false), "seal");
    }
    return {};
  }
  Status Finish() { return Push(true); }

 private:
  Status Push(bool final) {
    if (!started_) {
      unsigned char header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
      crypto_secretstream_xchacha20poly1305_init_push(&state_, header, key_.bytes.data());
      BACKUP_TRY(out_(prefix_), "seal");
      BACKUP_TRY(out_(std::string_view(reinterpret_cast<char*>(header), sizeof(header))), "seal");
      started_ = true;
    }
    record_.resize(kLenBytes + pending_.size() + crypto_secretstream_xchacha20poly1305_ABYTES);
    unsigned long long clen = 0;
    crypto_secretstream_xchacha20poly1305_push(
        &state_, reinterpret_cast<unsigned char*>(record_.data() + kLenBytes), &clen,
        reinterpret_cast<const unsigned char*>(pending_.data()), pending_.size(),
        reinterpret_cast<const unsigned char*>(prefix_.data()), prefix_.size(),
        final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
              : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
    const auto n = static_cast<uint32_t>(clen);
    for (size_t i = 0; i < kLenBytes; ++i) {
      record_[i] = static_cast<char>((n >> (8 * (kLenBytes - 1 - i))) & 0xff);
    }
    pending_.clear();
    return out_(record_);
  }

  const EncryptionKey& key_;
  ByteOut out_;
  std::string prefix_, pending_, record_;
  crypto_secretstream_xchacha20poly1305_state state_{};
  bool started_ = false;
};

// The reverse of Sealer; hands on a record's plain bytes only once it authenticated.
class Unsealer {
 public:
  Unsealer(const EncryptionKey& key, ByteOut out) : key_(key), out_(std::move(out)) {}
  ~Unsealer() {
    sodium_memzero(&state_, sizeof(state_));
    sodium_memzero(key_.bytes.data(), key_.bytes.size());
  }

  Status Feed(std::string_view stored) {
    buffer_.append(stored);
    size_t at = 0;
    Status status = Consume(at);
    buffer_.erase(0, at);
    return status;
  }

  Status Finish() {
    if (!final_) {
      return Fail(Error::DataLoss("the sealed stream ends early (truncated: no final record)"));
    }
    return {};
  }

 private:
  Status Consume(size_t& at) {
    if (!started_) {
      if (buffer_.size() < kHeaderLen) return {};
      BACKUP_TRY(Start(), "unseal");
      at = kHeaderLen;
    }
    for (;;) {
      if (final_ && at < buffer_.size()) {
        return Fail(Error::DataLoss("bytes follow the sealed stream's final record"));
      }
      if (buffer_.size() - at < kLenBytes) return {};
      uint32_t n = 0;
      for (size_t i = 0; i < kLenBytes; ++i) {
        n = (n << 8) | static_cast<unsigned char>(buffer_[at + i]);
      }
      if (n < crypto_secretstream_xchacha20poly1305_ABYTES ||
          n > kRecord + crypto_secretstream_xchacha20poly1305_ABYTES) {
        return Fail(Error::DataLoss("a sealed record claims " + std::to_string(n) + " bytes"));
      }
      if (buffer_.size() - at - kLenBytes < n) return {};
      plain_.resize(n - crypto_secretstream_xchacha20poly1305_ABYTES);
      unsigned long long mlen = 0;
      unsigned char tag = 0;
      if (!Authentic(at, n, mlen, tag)) {
        return Fail(
            Error::DataLoss("a sealed record does not authenticate (tampered or "
                            "reordered bytes, or a different key with the same id)"));
      }
      at += kLenBytes + n;
      final_ = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
      BACKUP_TRY(out_(std::string_view(plain_.data(), mlen)), "unseal");
    }
  }

  // Pulls the record with the stream's additional data (the magic and key id).
  bool Authentic(size_t at, uint32_t n, unsigned long long& mlen, unsigned char& tag) {
    return crypto_secretstream_xchacha20poly1305_pull(
               &state_, reinterpret_cast<unsigned char*>(plain_.data()), &mlen, &tag,
               reinterpret_cast<const unsigned char*>(buffer_.data() + at + kLenBytes), n,
               reinterpret_cast<const unsigned char*>(prefix_.data()), prefix_.size()) == 0;
  }

  Status Start() {
    const std::string_view magic(buffer_.data(), kMagic.size());
    if (magic != kMagic) return Fail(Error::DataLoss("not a sealed stream (no CBKSEAL1 magic)"));
    const std::string id = buffer_.substr(kMagic.size(), kKeyIdLen);
    if (id != key_.id) {
      return Fail(Error::DataLoss("the object is sealed with key " + id +
                                  " but the catalogue says " + key_.id));
    }
    prefix_ = buffer_.substr(0, kPrefixLen);
    if (crypto_secretstream_xchacha20poly1305_init_pull(
            &state_, reinterpret_cast<const unsigned char*>(buffer_.data() + kPrefixLen),
            key_.bytes.data()) != 0) {
      return Fail(Error::DataLoss("the sealed stream's header is invalid"));
    }
    started_ = true;
    return {};
  }

  EncryptionKey key_;  // a copy: the decoder may outlive the key ring it came from
  ByteOut out_;
  std::string buffer_, prefix_, plain_;
  crypto_secretstream_xchacha20poly1305_state state_{};
  bool started_ = false, final_ = false;
};

class EncoderImpl final : public Encoder {
 public:
  EncoderImpl(Compression compression, const EncryptionKey* key, ByteOut out)
      : out_(std::move(out)) {
    if (key != nullptr) sealer_.emplace(*key, out_);
    if (compression.zstd_level > 0) {
      zstd_.reset(ZSTD_createCCtx());
      ZSTD_CCtx_setParameter(zstd_.get(), ZSTD_c_compressionLevel, compression.zstd_level);
      ZSTD_CCtx_setParameter(zstd_.get(), ZSTD_c_checksumFlag, 1);
      // A libzstd built without threads refuses this and compresses on the caller's thread.
      if (compression.threads > 0) {
        (void)ZSTD_CCtx_setParameter(zstd_.get(), ZSTD_c_nbWorkers, compression.threads);
      }
      buffer_.resize(ZSTD_CStreamOutSize());
    }
  }

  Status Write(std::string_view plain) override {
    if (!zstd_) return Next(plain);
    return Compress(plain, ZSTD_e_continue);
  }

  Status Finish() override {
    if (zstd_) BACKUP_TRY(Compress({}, ZSTD_e_end), "compress");
    if (sealer_) return sealer_->Finish();
    return {};
  }

 private:
  Status Next(std::string_view bytes) { return sealer_ ? sealer_->Write(bytes) : out_(bytes); }

  Status Compress(std::string_view plain, ZSTD_EndDirective mode) {
    ZSTD_inBuffer in{plain.data(), plain.size(), 0};
    for (;;) {
      ZSTD_outBuffer out{buffer_.data(), buffer_.size(), 0};
      const size_t left = ZSTD_compressStream2(zstd_.get(), &out, &in, mode);
      if (ZSTD_isError(left)) {
        return Fail(Error::Internal(std::string("zstd: ") + ZSTD_getErrorName(left)));
      }
      if (out.pos > 0) BACKUP_TRY(Next(std::string_view(buffer_.data(), out.pos)), "compress");
      const bool done = mode == ZSTD_e_end ? left == 0 : in.pos == in.size;
      if (done) return {};
    }
  }

  ByteOut out_;
  std::optional<Sealer> sealer_;
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> zstd_{nullptr, ZSTD_freeCCtx};
  std::string buffer_;
};

class DecoderImpl final : public Decoder {
 public:
  DecoderImpl(bool zstd, const EncryptionKey* key, int64_t max_plain, ByteOut out)
      : max_plain_(max_plain), out_(std::move(out)) {
    if (key != nullptr) {
      unsealer_.emplace(*key, [this](std::string_view b) { return Decompress(b); });
    }
    if (zstd) {
      zstd_.reset(ZSTD_createDCtx());
      buffer_.resize(ZSTD_DStreamOutSize());
    }
  }

  Status Feed(std::string_view stored) override {
    return unsealer_ ? unsealer_->Feed(stored) : Decompress(stored);
  }

  Status Finish() override {
    if (unsealer_) BACKUP_TRY(unsealer_->Finish(), "decode");
    if (zstd_ && (frame_left_ != 0 || !seen_input_)) {
      return Fail(Error::DataLoss("the zstd stream ends early (truncated)"));
    }
    return {};
  }

 private:
  Status Emit(std::string_view plain) {
    emitted_ += static_cast<int64_t>(plain.size());
    if (emitted_ > max_plain_) {
      return Fail(Error::DataLoss("the stream decodes to more than the " +
                                  std::to_string(max_plain_) + " bytes the backup has"));
    }
    return out_(plain);
  }

  Status Decompress(std::string_view bytes) {
    if (!zstd_) return Emit(bytes);
    if (bytes.empty()) return {};
    seen_input_ = true;
    ZSTD_inBuffer in{bytes.data(), bytes.size(), 0};
    // Until zstd has taken all the input and no longer fills the whole output buffer (so
    // it holds nothing back).
    for (;;) {
      ZSTD_outBuffer out{buffer_.data(), buffer_.size(), 0};
      frame_left_ = ZSTD_decompressStream(zstd_.get(), &out, &in);
      if (ZSTD_isError(frame_left_)) {
        return Fail(Error::DataLoss(std::string("the zstd stream is corrupt: ") +
                                    ZSTD_getErrorName(frame_left_)));
      }
      if (out.pos > 0) BACKUP_TRY(Emit(std::string_view(buffer_.data(), out.pos)), "decompress");
      // 0: a frame ended and everything it holds is out (even if that filled the buffer).
      if (in.pos == in.size && (frame_left_ == 0 || out.pos < out.size)) return {};
    }
  }

  const int64_t max_plain_;
  ByteOut out_;
  std::optional<Unsealer> unsealer_;
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> zstd_{nullptr, ZSTD_freeDCtx};
  std::string buffer_;
  size_t frame_left_ = 0;
  bool seen_input_ = false;
  int64_t emitted_ = 0;
};

}  // namespace

EncryptionKey KeyFromBytes(std::string_view bytes32) {
  EncryptionKey key;
  std::memcpy(key.bytes.data(), bytes32.data(), std::min(bytes32.size(), key.bytes.size()));
  key.id = KeyId(key.bytes);
  return key;
}

Result<EncryptionKey> LoadKeyFile(const std::filesystem::path& path) {
  BACKUP_TRY(InitSodium(), "encryption key");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return Fail(Error::FromErrno(errno, "key file " + path.string()));
  if ((st.st_mode & 077) != 0) {
    return Fail(Error::PermissionDenied("key file " + path.string() +
                                        " may be read by other users; chmod 600 it"));
  }
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() == 32) return KeyFromBytes(text);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  std::string raw(32, '\0');
  size_t len = 0;
  if (text.size() == 64 &&
      sodium_hex2bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), text.data(),
                     text.size(), nullptr, &len, nullptr) == 0 &&
      len == 32) {
    EncryptionKey key = KeyFromBytes(raw);
    sodium_memzero(raw.data(), raw.size());
    return key;
  }
  return Fail(Error::InvalidArgument("key file " + path.string() +
                                     " must hold 32 bytes or 64 hex digits (openssl rand -hex "
                                     "32); it holds " +
                                     std::to_string(text.size()) + " bytes"));
}

KeyRing::KeyRing(std::optional<EncryptionKey> current, std::vector<EncryptionKey> old)
    : current_(std::move(current)), keys_(std::move(old)) {
  if (current_) keys_.push_back(*current_);
}

const EncryptionKey* KeyRing::Find(std::string_view id) const {
  for (const EncryptionKey& k : keys_) {
    if (k.id == id) return &k;
  }
  return nullptr;
}

namespace {

// A whole decimal number in [lo, hi], or nullopt.
std::optional<int> NumberIn(std::string_view text, int lo, int hi) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < lo || value > hi) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

Result<Compression> ParseCompression(const std::string& spec) {
  if (spec == "none") return Compression{0};
  if (spec == "zstd") return Compression{3};
  if (spec.starts_with("zstd:")) {
    const std::string_view rest = std::string_view(spec).substr(5);
    const size_t colon = rest.find(':');
    const auto level = NumberIn(rest.substr(0, colon), 1, 19);
    const auto threads = colon == std::string_view::npos ? std::optional<int>(2)
                                                         : NumberIn(rest.substr(colon + 1), 0, 16);
    if (level && threads) return Compression{*level, *threads};
  }
  return Fail(Error::InvalidArgument(
      "--compression takes zstd:LEVEL (1-19), zstd:LEVEL:THREADS (0-16) or none, not \"" +
      spec.substr(0, 64) + "\""));
}

Result<std::unique_ptr<Encoder>> Encoder::Create(Compression compression, const EncryptionKey* key,
                                                 ByteOut out) {
  if (key != nullptr) BACKUP_TRY(InitSodium(), "encrypt");
  return std::unique_ptr<Encoder>(new EncoderImpl(compression, key, std::move(out)));
}

Result<std::unique_ptr<Decoder>> Decoder::Create(const std::string& compression,
                                                 const std::string& key_id, const KeyRing& keys,
                                                 int64_t max_plain_bytes, ByteOut out) {
  if (compression != "zstd" && compression != "none") {
    return Fail(Error::DataLoss("unknown compression \"" + compression + "\""));
  }
  const EncryptionKey* key = nullptr;
  if (!key_id.empty()) {
    BACKUP_TRY(InitSodium(), "decrypt");
    key = keys.Find(key_id);
    if (key == nullptr) {
      return Fail(Error::FailedPrecondition(
          "the backup is encrypted with key " + key_id +
          ", which backupd does not have: give its key file with --encryption-key-file or "
          "--old-encryption-key-file"));
    }
  }
  return std::unique_ptr<Decoder>(
      new DecoderImpl(compression == "zstd", key, max_plain_bytes, std::move(out)));
}

}  // namespace backup
