// The bytes a backup puts in a store: its plain archive, compressed with zstd and, with a
// key, sealed with libsodium's crypto_secretstream_xchacha20poly1305 (authenticated,
// streaming). See docs/backup-format.md for the layout. Without a key, the stored bytes are
// a standard zstd stream (or the plain archive), so `zstd -d | tar x` recovers a backup
// without this program.
//
// An Encoder turns plain bytes into stored bytes, a Decoder stored bytes back into plain
// ones; both stream in bounded memory (a record of at most 1 MiB). A Decoder fails with
// kDataLoss on any tampered, reordered, truncated or extended byte, and before handing on
// a byte of a record that does not authenticate; with kFailedPrecondition when the key the
// object was sealed with is not in the key ring (naming its id).
//
// Thread-safety: an Encoder or Decoder belongs to one thread; a KeyRing is immutable.
#pragma once

#include <array>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace backup {

// A 256-bit key and its id: 16 hex digits of a keyed hash of the key, stored with each
// backup so a key ring can find the right key and a wrong key is named, never guessed.
struct EncryptionKey {
  std::array<unsigned char, 32> bytes{};
  std::string id;
};

// Reads a key file: exactly 32 bytes, or 64 hex digits (and an optional newline). The file
// must not be readable by group or others.
Result<EncryptionKey> LoadKeyFile(const std::filesystem::path& path);
EncryptionKey KeyFromBytes(std::string_view bytes32);

class KeyRing {
 public:
  KeyRing() = default;
  // `current` seals new backups; `old` keys only open older ones.
  KeyRing(std::optional<EncryptionKey> current, std::vector<EncryptionKey> old);
  const std::optional<EncryptionKey>& current() const { return current_; }
  const EncryptionKey* Find(std::string_view id) const;

 private:
  std::optional<EncryptionKey> current_;
  std::vector<EncryptionKey> keys_;
};

// How new backups are written: "zstd:LEVEL[:THREADS]" (level 1-19; threads 0-16, default
// 2: zstd compresses on that many threads of its own while the job reads and uploads, one
// standard frame either way; 0: on the job's thread) or "none".
struct Compression {
  int zstd_level = 0;  // 0: none
  int threads = 2;
  std::string Name() const { return zstd_level > 0 ? "zstd" : "none"; }
};
Result<Compression> ParseCompression(const std::string& spec);

using ByteOut = std::function<Status(std::string_view)>;

class Encoder {
 public:
  // `key`, when set, seals the stream.
  static Result<std::unique_ptr<Encoder>> Create(Compression compression, const EncryptionKey* key,
                                                 ByteOut out);
  virtual ~Encoder() = default;
  virtual Status Write(std::string_view plain) = 0;
  // Flushes everything and ends the stream (the final record, the zstd frame's end).
  virtual Status Finish() = 0;
};

class Decoder {
 public:
  // `compression` and `key_id` ("" for none) are the backup's, from the catalogue. More than
  // `max_plain_bytes` of output fails with kDataLoss (a hostile stream cannot fill a disk).
  static Result<std::unique_ptr<Decoder>> Create(const std::string& compression,
                                                 const std::string& key_id, const KeyRing& keys,
                                                 int64_t max_plain_bytes, ByteOut out);
  virtual ~Decoder() = default;
  virtual Status Feed(std::string_view stored) = 0;
  // kDataLoss when the stream ended early.
  virtual Status Finish() = 0;
};

}  // namespace backup
