// One chunk of a chunked backup (docs/backup-format.md, "Chunked format"): its id and its
// stored form. A chunk is a few KiB of a snapshot or a file; it is stored once per
// collection and store however many backups hold it.
//
//   id      without a key: SHA-256 of the plain bytes. With a key: BLAKE2b-256 of the plain
//           bytes keyed with a key derived from the encryption key, so whoever holds the
//           bucket cannot test a guess of the content against the ids.
//   stored  without a key: one byte (0 raw, 1 zstd) and the payload (zstd only when it is
//           smaller). With a key: a random 24-byte nonce and XChaCha20-Poly1305 of that
//           byte and payload, authenticated with "CBKCHNK1", the key id and the chunk id.
//
// Decode() hands back plain bytes only when they authenticate (sealed), decompress to
// exactly the size the manifest says and hash to the chunk's id: a changed, swapped or
// truncated chunk is kDataLoss.
//
// Thread-safety: a ChunkCodec belongs to one thread (it keeps zstd contexts).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "common/error.h"
#include "storage/codec.h"

namespace backup {

using ChunkId = std::array<unsigned char, 32>;

struct ChunkIdHash {
  size_t operator()(const ChunkId& id) const noexcept {
    size_t h = 0;
    for (size_t i = 0; i < sizeof(h); ++i) h = (h << 8) | id[i];
    return h;
  }
};

// Equality in four word compares (std::array's calls memcmp, a third of a lookup's time in
// a table of a million ids).
struct ChunkIdEq {
  bool operator()(const ChunkId& a, const ChunkId& b) const noexcept {
    uint64_t x[4];
    uint64_t y[4];
    std::memcpy(x, a.data(), sizeof(x));
    std::memcpy(y, b.data(), sizeof(y));
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) == 0;
  }
};

// A chunk may hold at most this many plain bytes; a manifest saying more is refused.
inline constexpr int64_t kMaxChunkBytes = int64_t{1} << 20;
// Stored bytes beyond the plain ones at most (nonce, tag, flag, zstd's worst case).
inline constexpr int64_t kChunkOverhead = 1024;

class ChunkCodec {
 public:
  // `zstd_level` 0: never compressed. `key` (may be null) seals chunks and keys the ids.
  static Result<std::unique_ptr<ChunkCodec>> Create(int zstd_level, const EncryptionKey* key);
  ~ChunkCodec();
  ChunkCodec(const ChunkCodec&) = delete;
  ChunkCodec& operator=(const ChunkCodec&) = delete;

  ChunkId Id(std::string_view plain) const;
  // The stored form of `plain`, whose id is `id`, appended to `out`.
  Status Encode(const ChunkId& id, std::string_view plain, std::string& out);
  // The plain bytes of a stored chunk, checked (see above; the id only with `check_id`).
  Result<std::string> Decode(const ChunkId& id, std::string_view stored, int64_t plain_size,
                             bool check_id = true);
  // As Decode, appending the plain bytes to `out` (unchanged on failure).
  Status DecodeAppend(const ChunkId& id, std::string_view stored, int64_t plain_size, bool check_id,
                      std::string& out);

  // "sha256" or "blake2b-keyed": how ids are made, as the manifest records it.
  std::string_view id_scheme() const;

 private:
  ChunkCodec() = default;
  struct Zstd;
  struct Sha256;
  int level_ = 0;
  bool sealed_ = false;
  std::array<unsigned char, 32> seal_key_{};
  std::array<unsigned char, 32> id_key_{};
  std::string key_id_;
  std::unique_ptr<Zstd> zstd_;
  std::unique_ptr<Sha256> sha256_;  // ids without a key
  std::string scratch_;
};

std::string ChunkIdHex(const ChunkId& id);

// What seals a frame of several chunks (format 4) in place of a chunk id: the SHA-256 of a
// label and their ids in order; a frame of one chunk is sealed with the chunk's id.
ChunkId FrameId(const ChunkId* ids, size_t count);

// What seals a pack's index in place of a chunk id: the SHA-256 of a label and the pack's
// name, so an index authenticates only in its own pack.
ChunkId PackIndexId(std::string_view pack_name);

}  // namespace backup
