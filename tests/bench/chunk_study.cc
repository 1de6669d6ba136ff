// Chunk study (issue 13): what other ways of cutting a page-preserving snapshot into chunks
// would store, measured on two snapshots of one database (before and after the
// incremental scenario's change) without a store in the way. For each layout of chunks in
// a page, and each way of compressing them (every chunk on its own, as format 3 does, or
// the new chunks of one page together in one frame): the full backup's stored bytes, the
// bytes the second backup adds, their ratio, and the seconds hashing, deduplicating and
// compressing took on one core. Chunks are unsealed (one flag byte), as the bench's stores.
#include <openssl/sha.h>
#include <zstd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "storage/chunk_codec.h"
#include "tests/bench/bench_server.h"
#include "tests/bench/bench_util.h"

namespace backup::bench {
namespace {

using Id = ChunkId;

// An index entry as format 3 stores it: the id and two varint sizes.
constexpr double kIndexEntryBytes = 32 + 2 + 2;
constexpr int kLevel = 1;  // the chunked default, zstd:1

// Where chunks start inside a page.
struct Layout {
  std::string name;
  std::vector<size_t> cuts;
};

std::vector<Layout> Layouts(size_t page) {
  std::vector<Layout> layouts;
  for (size_t chunk : {page, page / 2, page / 4, page / 8}) {
    Layout l{std::to_string(chunk) + " B", {}};
    for (size_t at = 0; at < page; at += chunk) l.cuts.push_back(at);
    layouts.push_back(l);
  }
  // A head (the b-tree page header and the start of its cell-pointer array, which every
  // change to the page rewrites) cut off a quarter-page grid.
  for (size_t head : {64, 128}) {
    Layout l{"head " + std::to_string(head) + " B + " + std::to_string(page / 4) + " B", {0}};
    for (size_t at = head; at < page; at += page / 4) l.cuts.push_back(at);
    layouts.push_back(l);
  }
  return layouts;
}

struct Stored {
  double chunks = 0;
  double bytes = 0;  // compressed payloads, flag bytes and index entries
  double seconds = 0;
};

class Study {
 public:
  explicit Study(bool page_frames) : page_frames_(page_frames), cctx_(ZSTD_createCCtx()) {}
  ~Study() { ZSTD_freeCCtx(cctx_); }
  Study(const Study&) = delete;
  Study& operator=(const Study&) = delete;

  // Stores the chunks of `file` not stored yet.
  Stored Add(const std::string& file, size_t page, const std::vector<size_t>& cuts) {
    Stored s;
    const auto start = Clock::now();
    for (size_t at = 0; at < file.size(); at += page) {
      for (size_t i = 0; i < cuts.size(); ++i) {
        const size_t from = at + cuts[i];
        const size_t to = std::min(file.size(), at + (i + 1 < cuts.size() ? cuts[i + 1] : page));
        if (from >= to) break;
        const std::string_view chunk(file.data() + from, to - from);
        Id id{};
        SHA256(reinterpret_cast<const unsigned char*>(chunk.data()), chunk.size(), id.data());
        if (known_.insert(id).second) {
          s.chunks += 1;
          s.bytes += kIndexEntryBytes;
          frame_.append(chunk);
        }
        if (!page_frames_) Flush(s);
      }
      Flush(s);  // a frame ends with its page at the latest
    }
    s.seconds = SecondsSince(start);
    return s;
  }

 private:
  void Flush(Stored& s) {
    if (frame_.empty()) return;
    out_.resize(ZSTD_compressBound(frame_.size()));
    const size_t n =
        ZSTD_compressCCtx(cctx_, out_.data(), out_.size(), frame_.data(), frame_.size(), kLevel);
    if (ZSTD_isError(n)) {
      std::fprintf(stderr, "backup-bench: chunk-study: zstd: %s\n", ZSTD_getErrorName(n));
      std::exit(1);
    }
    s.bytes += 1 + static_cast<double>(std::min(n, frame_.size()));  // raw when not smaller
    frame_.clear();
  }

  const bool page_frames_;
  ZSTD_CCtx* cctx_;
  std::unordered_set<Id, ChunkIdHash, ChunkIdEq> known_;
  std::string frame_;
  std::string out_;
};

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (bytes.empty()) {
    std::fprintf(stderr, "backup-bench: chunk-study: cannot read %s\n", path.c_str());
    std::exit(1);
  }
  return bytes;
}

}  // namespace

void ChunkStudyFigures(const std::filesystem::path& before_path,
                       const std::filesystem::path& after_path, size_t page) {
  const std::string before = ReadAll(before_path);
  const std::string after = ReadAll(after_path);
  for (const Layout& l : Layouts(page)) {
    for (bool page_frames : {false, true}) {
      if (page_frames && l.cuts.size() == 1) continue;  // one chunk a page: the same
      Study study(page_frames);
      const Stored full = study.Add(before, page, l.cuts);
      const Stored second = study.Add(after, page, l.cuts);
      Report(
          "chunk study, " + l.name + (page_frames ? ", one frame a page" : ", one frame a chunk"),
          {{"full_MB", full.bytes / 1e6, "MB, first backup"},
           {"full_s", full.seconds, "s, one core: hash, dedup, zstd:1"},
           {"second_chunks", second.chunks, "new chunks"},
           {"second_MB", second.bytes / 1e6, "MB, after 1 % updated + 0.5 % inserted"},
           {"ratio", second.bytes / full.bytes, "second / full"}});
    }
  }
}

}  // namespace backup::bench
