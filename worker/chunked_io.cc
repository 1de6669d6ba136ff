#include "worker/chunked_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <absl/container/flat_hash_map.h>
#include <spdlog/spdlog.h>

#include "common/async_sha256.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/text.h"
#include "storage/chunk_codec.h"
#include "worker/ordered_hasher.h"

namespace backup {
namespace fs = std::filesystem;
using collector::archive::ChunkedFile;
using collector::archive::ChunkedManifest;
using collector::archive::ChunkPack;
using collector::archive::ChunkPackIndex;

namespace {

constexpr int64_t kFileChunkBytes = 64 << 10;
constexpr int64_t kReadBlock = 4 << 20;
constexpr int kFetchThreads = 4;
// Two chunks of one pack closer than this are fetched in one request.
constexpr int64_t kFetchGap = 1 << 20;
constexpr int64_t kFetchMax = 32 << 20;
// Consecutive chunks of one file are written together up to this many bytes.
constexpr int64_t kWriteRun = 4 << 20;
// A pack holds at most this many chunks, so its index stays below kMaxChunkBytes.
constexpr int kPackMaxChunks = 16384;
// Format 4 when some chunk lies in a frame of several (the default), else 3.
constexpr int kRunsFormat = 3;
constexpr int kFramesFormat = 4;
// A frame holds at most this many chunks (a page of 512 B chunks and its head).
constexpr int kMaxFrameChunks = 64;
// The smallest chunk of a snapshot (a manifest saying less is refused).
constexpr int64_t kMinChunkBytes = 512;
// Sub-page chunks are compressed in frames of whole pages, this many bytes of the snapshot:
// zstd decodes 4 KiB frames at 0.75 GB/s and 16 KiB ones at 1.7 GB/s (BENCHMARKS.md
// section 12), and a frame holds only the chunks its pages did not share with the base.
constexpr int64_t kFrameBytes = 16 << 10;

using ReadFn = std::function<Status(int64_t offset, char* out, int64_t length)>;

int ChunkCount(const ChunkedFile& f) { return f.pack_size(); }

// Where a chunk is stored: a pack (of the base's table or of this backup's) and its place
// in the pack's index.
struct Where {
  uint32_t pack;
  uint32_t slot;
};

// Appends the chunk at `w` to a file's runs (format 3).
void AddToRuns(const Where& w, ChunkedFile& out) {
  const int last = out.run_pack_size() - 1;
  if (last >= 0 && out.run_pack(last) == w.pack &&
      out.run_first(last) + out.run_count(last) == w.slot) {
    out.set_run_count(last, out.run_count(last) + 1);
    return;
  }
  out.add_run_pack(w.pack);
  out.add_run_first(w.slot);
  out.add_run_count(1);
}

// One block of a file cut into chunks and encoded off the job's thread: for each chunk its
// id and plain size, and either where the base has it or the frame it is new in; each
// frame's stored form is stored[begin, end), its chunks those of chunks[first, last) that
// name it.
struct EncodedBlock {
  struct Chunk {
    ChunkId id;
    uint32_t plain;
    const Where* in_base;  // null: new, in frames[frame]
    int frame;
  };
  struct Frame {
    size_t begin, end;
    size_t first, last;
  };
  std::vector<Chunk> chunks;
  std::vector<Frame> frames;
  std::string stored;
  Status status;
};

// Writes chunks into packs, each chunk once: those the base has are referenced where they
// are, new ones are appended to this attempt's packs, uploaded one while the next fills.
// Blocks are hashed and encoded (compressed, sealed) on up to kEncodeDepth threads while
// the job's thread reads the next ones; they are committed to packs in order.
class ChunkWriter {
 public:
  ChunkWriter(BackupStore& store, std::string prefix, std::string pack_base, int64_t pack_bytes,
              int zstd_level, const EncryptionKey* key, IndexCacheRef cache, ChunkedStats& stats,
              JobContext& ctx)
      : store_(store),
        prefix_(std::move(prefix)),
        pack_base_(std::move(pack_base)),
        pack_bytes_(pack_bytes),
        level_(zstd_level),
        key_(key),
        cache_(std::move(cache)),
        stats_(stats),
        ctx_(ctx) {}

  ~ChunkWriter() {
    for (auto& upload : uploads_) upload.wait();
  }

  // Every chunk in the base's packs (checked when they were read) may be referenced. Its
  // indexes are released once the table holds them.
  void LoadBase(ChunkedBase& base) {
    if (base.indexes.size() != static_cast<size_t>(base.manifest.packs_size())) return;
    base_packs_.assign(base.manifest.packs().begin(), base.manifest.packs().end());
    base_to_new_.assign(base_packs_.size(), -1);
    base_framed_.clear();
    size_t chunks = 0;
    for (const PackIndex& index : base.indexes) {
      base_framed_.push_back(index.framed);
      chunks += index.ids.size();
    }
    base_index_.reserve(chunks);
    for (size_t p = 0; p < base.indexes.size(); ++p) {
      PackIndex& index = base.indexes[p];
      for (size_t k = 0; k < index.ids.size(); ++k) {
        base_index_.try_emplace(index.ids[k],
                                Where{static_cast<uint32_t>(p), static_cast<uint32_t>(k)});
      }
      index = PackIndex();  // ~56 bytes a chunk, not needed again
    }
  }

  // Cuts what `read` gives into chunks of `chunk_bytes` and records them in `out`. Returns
  // the SHA-256 of the whole.
  Result<std::string> AddFile(const ReadFn& read, int64_t size, int64_t chunk_bytes,
                              int64_t frame_bytes, ChunkedFile& out) {
    AsyncSha256 whole;
    new_index_.reserve(new_index_.size() + static_cast<size_t>(size / chunk_bytes));
    std::deque<std::future<EncodedBlock>> encoding;  // their destructors wait
    const int64_t block_bytes = std::max(frame_bytes, kReadBlock / frame_bytes * frame_bytes);
    for (int64_t at = 0; at < size;) {
      if (ctx_.cancelled()) return Fail(Error::Cancelled("cancelled while chunking"));
      const int64_t want = std::min(size - at, block_bytes);
      auto block = std::make_shared<std::string>(static_cast<size_t>(want), '\0');
      BACKUP_TRY(read(at, block->data(), want), "read");
      whole.Add(block);
      encoding.push_back(std::async(std::launch::async, [this, block, chunk_bytes, frame_bytes] {
        return Encode(*block, chunk_bytes, frame_bytes);
      }));
      if (std::ssize(encoding) >= kEncodeDepth) {
        BACKUP_TRY(Commit(encoding.front().get(), out), "store chunks");
        encoding.pop_front();
      }
      at += want;
      ctx_.AddBytes(want);
    }
    for (; !encoding.empty(); encoding.pop_front()) {
      BACKUP_TRY(Commit(encoding.front().get(), out), "store chunks");
    }
    out.set_size(size);
    return whole.Finish();
  }

  // Uploads the last pack and waits for every upload; the pack table goes into `m`.
  Status Finish(ChunkedManifest& m) {
    BACKUP_TRY(ClosePack(), "upload pack");
    BACKUP_TRY(WaitUploads(0), "upload pack");
    for (const ChunkPack& p : packs_) *m.add_packs() = p;
    return {};
  }

  // Whether a chunk it placed lies in a frame of several (the manifest is format 4).
  bool framed() const { return framed_; }

  // Removes the packs this attempt uploaded (it failed; nothing refers to them).
  void RemoveWritten() {
    (void)WaitUploads(0);
    for (const std::string& key : uploaded_) (void)store_.Delete(key);
  }

 private:
  static constexpr int kEncodeDepth = 3;

  // A codec for one block (its zstd contexts are reused block after block).
  Result<std::unique_ptr<ChunkCodec>> TakeCodec() {
    {
      std::lock_guard lock(codecs_mu_);
      if (!codecs_.empty()) {
        auto codec = std::move(codecs_.back());
        codecs_.pop_back();
        return codec;
      }
    }
    return ChunkCodec::Create(level_, key_);
  }
  void GiveBack(std::unique_ptr<ChunkCodec> codec) {
    std::lock_guard lock(codecs_mu_);
    codecs_.push_back(std::move(codec));
  }

  // Runs on an encoding thread: reads only base_index_, which no one changes meanwhile.
  EncodedBlock Encode(const std::string& block, int64_t chunk_bytes, int64_t frame_bytes) {
    EncodedBlock out;
    auto codec = TakeCodec();
    if (!codec) {
      out.status = Fail(codec.error());
      return out;
    }
    EncodeWith(**codec, block, chunk_bytes, frame_bytes, out);
    GiveBack(std::move(*codec));
    return out;
  }

  // Frames are taken a window at a time: first every chunk's id, each id's place in the
  // base table prefetched as soon as it is known (the table is far larger than the caches
  // and the next hash hides the fetch), then the window's lookups and frames.
  void EncodeWith(ChunkCodec& codec, const std::string& block, int64_t chunk_bytes,
                  int64_t frame_bytes, EncodedBlock& out) const {
    const int64_t window_frames = std::max<int64_t>(1, (64 << 10) / frame_bytes);
    const int64_t size = std::ssize(block);
    out.chunks.reserve(static_cast<size_t>((size + chunk_bytes - 1) / chunk_bytes));
    out.stored.reserve(block.size() + block.size() / 32 + 1024);
    FrameScratch scratch;
    for (int64_t window = 0; window < size && out.status; window += window_frames * frame_bytes) {
      const int64_t window_end = std::min(size, window + window_frames * frame_bytes);
      size_t c = out.chunks.size();
      for (int64_t frame = window; frame < window_end; frame += frame_bytes) {
        const int64_t frame_end = std::min(size, frame + frame_bytes);
        for (int64_t off = frame; off < frame_end; off += chunk_bytes) {
          const std::string_view plain(block.data() + off,
                                       static_cast<size_t>(std::min(chunk_bytes, frame_end - off)));
          out.chunks.push_back({codec.Id(plain), static_cast<uint32_t>(plain.size()), nullptr, -1});
          base_index_.prefetch(out.chunks.back().id);
        }
      }
      for (int64_t frame = window; frame < window_end && out.status; frame += frame_bytes) {
        c = EncodeFrame(codec, block.data() + frame, c, std::min(size, frame + frame_bytes) - frame,
                        scratch, out);
      }
    }
  }

  struct FrameScratch {
    std::vector<ChunkId> ids;
    std::vector<std::string_view> news;  // the new chunks of a frame, in order
    std::string gathered;
  };

  // Looks up the chunks of the frame of `length` bytes at `at`, whose first is chunks[c], and
  // compresses and seals those the base lacks as one frame. Returns the next frame's first.
  size_t EncodeFrame(ChunkCodec& codec, const char* at, size_t c, int64_t length,
                     FrameScratch& scratch, EncodedBlock& out) const {
    const size_t first = c;
    scratch.ids.clear();
    scratch.news.clear();
    for (int64_t off = 0; off < length; off += out.chunks[c].plain, ++c) {
      EncodedBlock::Chunk& chunk = out.chunks[c];
      if (auto it = base_index_.find(chunk.id); it != base_index_.end()) {
        chunk.in_base = &it->second;
      } else {
        chunk.frame = static_cast<int>(out.frames.size());
        scratch.ids.push_back(chunk.id);
        scratch.news.emplace_back(at + off, chunk.plain);
      }
    }
    if (scratch.ids.empty()) return c;
    const std::string_view plain = Joined(scratch.news, scratch.gathered);
    const size_t begin = out.stored.size();
    if (auto s = codec.Encode(FrameId(scratch.ids.data(), scratch.ids.size()), plain, out.stored);
        !s) {
      out.status = s;
      return c;
    }
    out.frames.push_back({begin, out.stored.size(), first, c});
    return c;
  }

  // Pieces of one block in order, as one view when they lie next to each other (a page
  // stored whole), else copied into `gathered`.
  static std::string_view Joined(const std::vector<std::string_view>& pieces,
                                 std::string& gathered) {
    bool adjacent = true;
    for (size_t i = 1; i < pieces.size() && adjacent; ++i) {
      adjacent = pieces[i - 1].data() + pieces[i - 1].size() == pieces[i].data();
    }
    if (adjacent) {
      return {
          pieces.front().data(),
          static_cast<size_t>(pieces.back().data() + pieces.back().size() - pieces.front().data())};
    }
    gathered.clear();
    for (std::string_view p : pieces) gathered.append(p);
    return gathered;
  }

  Status Commit(const EncodedBlock& block, ChunkedFile& out) {
    BACKUP_TRY(block.status, "encode chunk");
    for (const EncodedBlock::Chunk& c : block.chunks) {
      ++stats_.chunks;
      Where w{};
      if (c.in_base != nullptr) {
        w = FromBase(*c.in_base);
      } else {
        auto placed = NewPlace(block, c);
        if (!placed) return Fail(placed.error());
        w = *placed;
      }
      AddToRuns(w, out);
    }
    return {};
  }

  // Where a chunk the base lacks is: stored earlier in this backup, or now with its frame.
  Result<Where> NewPlace(const EncodedBlock& block, const EncodedBlock::Chunk& c) {
    auto it = new_index_.find(c.id);
    if (it == new_index_.end()) {
      BACKUP_TRY(AddFrame(block, c.frame), "store chunks");
      it = new_index_.find(c.id);
    }
    return it->second;
  }

  // A new frame appended to the open pack, and its chunks to the pack's index.
  Status AddFrame(const EncodedBlock& block, int f) {
    const EncodedBlock::Frame& frame = block.frames[static_cast<size_t>(f)];
    int count = 0;
    for (size_t i = frame.first; i < frame.last; ++i) count += block.chunks[i].frame == f ? 1 : 0;
    if (std::ssize(pack_) >= pack_bytes_ ||
        pack_index_.plain_size_size() + count > kPackMaxChunks) {
      BACKUP_TRY(ClosePack(), "upload pack");
    }
    if (pack_.empty()) OpenPack();
    const auto stored = static_cast<uint32_t>(frame.end - frame.begin);
    pack_.append(block.stored, frame.begin, frame.end - frame.begin);
    for (size_t i = frame.first; i < frame.last; ++i) {
      const EncodedBlock::Chunk& c = block.chunks[i];
      if (c.frame != f) continue;
      const Where w{open_pack_, static_cast<uint32_t>(pack_index_.plain_size_size())};
      pack_index_.mutable_ids()->append(reinterpret_cast<const char*>(c.id.data()), c.id.size());
      pack_index_.add_plain_size(c.plain);
      new_index_.emplace(c.id, w);
      ++stats_.new_chunks;
    }
    pack_index_.add_stored_size(stored);
    pack_index_.add_frame_chunks(static_cast<uint32_t>(count));
    framed_ = framed_ || count > 1;
    return {};
  }

  // A base chunk's place in this manifest's pack table (the pack joins it on first use).
  Where FromBase(const Where& base) {
    int32_t& mapped = base_to_new_[base.pack];
    if (mapped < 0) {
      framed_ = framed_ || base_framed_[base.pack];
      mapped = static_cast<int32_t>(packs_.size());
      packs_.push_back(base_packs_[base.pack]);
    }
    return Where{static_cast<uint32_t>(mapped), base.slot};
  }

  void OpenPack() {
    open_pack_ = static_cast<uint32_t>(packs_.size());
    ChunkPack p;
    p.set_name(pack_base_ + "." + std::to_string(++seq_) + ".pack");
    packs_.push_back(std::move(p));
  }

  Status ClosePack() {
    if (pack_.empty()) return {};
    BACKUP_TRY(WaitUploads(kPackUploadsInFlight - 1), "upload pack");
    ChunkPack& p = packs_[open_pack_];
    BACKUP_TRY(AppendIndex(p), "pack index");
    p.set_size(std::ssize(pack_));
    stats_.new_bytes += std::ssize(pack_);
    const std::string key = prefix_ + p.name();
    uploaded_.push_back(key);
    uploads_.push_back(std::async(
        std::launch::async,
        [this, key, name = p.name(), index_at = p.index_offset(),
         bytes = std::move(pack_)]() -> Status {
          auto writer = store_.Put(key, std::ssize(bytes));
          if (!writer) return Fail(writer.error());
          BACKUP_TRY((*writer)->Write(bytes), key);
          auto put = (*writer)->Commit();
          if (!put) return Fail(put.error());
          if (cache_.cache != nullptr) {
            cache_.cache->Put(cache_.store, prefix_, name,
                              std::string_view(bytes).substr(static_cast<size_t>(index_at)));
          }
          return {};
        }));
    pack_.clear();
    return {};
  }

  // The open pack's index, at its end (see ChunkPackIndex).
  Status AppendIndex(ChunkPack& p) {
    // Frames of one chunk each: the index of format 3, which readers before frames know.
    if (std::all_of(pack_index_.frame_chunks().begin(), pack_index_.frame_chunks().end(),
                    [](uint32_t n) { return n == 1; })) {
      pack_index_.clear_frame_chunks();
    }
    std::string plain;
    if (!pack_index_.SerializeToString(&plain)) {
      return Fail(Error::Internal("cannot encode a pack index"));
    }
    auto codec = TakeCodec();
    if (!codec) return Fail(codec.error());
    p.set_index_offset(std::ssize(pack_));
    p.set_index_plain(std::ssize(plain));
    Status encoded = (*codec)->Encode(PackIndexId(p.name()), plain, pack_);
    GiveBack(std::move(*codec));
    pack_index_.Clear();
    return encoded;
  }

  // Waits until at most `in_flight` uploads run; the first error of those finished.
  Status WaitUploads(size_t in_flight) {
    Status first;
    for (; uploads_.size() > in_flight; uploads_.pop_front()) {
      Status s = uploads_.front().get();
      if (first && !s) first = s;
    }
    return first;
  }

  BackupStore& store_;
  const std::string prefix_;
  const std::string pack_base_;
  const int64_t pack_bytes_;
  const int level_;
  const EncryptionKey* const key_;
  const IndexCacheRef cache_;  // takes each uploaded pack's index
  ChunkedStats& stats_;
  JobContext& ctx_;
  // Open addressing: a lookup is one cache miss, not a chain of them (a base of 1 GB in
  // quarter pages holds a million chunks).
  absl::flat_hash_map<ChunkId, Where, ChunkIdHash, ChunkIdEq> base_index_;  // base_packs_
  absl::flat_hash_map<ChunkId, Where, ChunkIdHash, ChunkIdEq> new_index_;   // packs_
  std::vector<ChunkPack> base_packs_;
  std::vector<int32_t> base_to_new_;
  std::vector<bool> base_framed_;  // the base's packs with frames of several chunks
  bool framed_ = false;            // some chunk it names lies in a frame of several
  std::vector<ChunkPack> packs_;
  std::vector<std::string> uploaded_;
  std::string pack_;
  ChunkPackIndex pack_index_;  // of pack_
  uint32_t open_pack_ = 0;
  int seq_ = 0;
  std::deque<std::future<Status>> uploads_;  // oldest first
  std::mutex codecs_mu_;                     // guards codecs_
  std::vector<std::unique_ptr<ChunkCodec>> codecs_;
};

// Reads exactly `length` bytes at `offset` of an open file; kUnavailable when it ends
// early (it shrank while it was read: the attempt is retried).
Status PreadExactly(int fd, int64_t offset, char* out, int64_t length, const std::string& name) {
  for (int64_t done = 0; done < length;) {
    const ssize_t n = ::pread(fd, out + done, static_cast<size_t>(length - done), offset + done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(Error::FromErrno(errno, "read " + name));
    if (n == 0) {
      return Fail(
          Error::Unavailable(name + " shrank while it was backed up; the attempt is retried"));
    }
    done += n;
  }
  return {};
}

// A name read from a backup, fit for a message and a log line.
std::string Shown(std::string_view name) { return ShowName(name, 200); }

// Limits for reading a manifest back: what a backup of the row's size can need.
int64_t MaxManifestBytes(const BackupRecord& backup, int64_t files) {
  return backup.size_bytes / 8 + files * 8192 + (int64_t{1} << 20);
}

}  // namespace

std::string PackPrefix(const CollectionName& collection) {
  return "chunks/" + collection.ns + "/" + collection.name + "/";
}

namespace {

// The files of the files folder into `m` and `out`; one no longer a regular file inside the
// folder is skipped.
Status AddFiles(ChunkWriter& writer, const ChunkedSource& source, ChunkedManifest& m,
                ArchiveWritten& out, Skipped& skipped, JobContext& ctx) {
  if (source.files_dir == nullptr || source.files == nullptr) return {};
  ctx.SetPhase("files");
  for (const SourceFile& f : *source.files) {
    auto in = OpenListedFile(*source.files_dir, f, ctx);
    if (!in) return Fail(in.error());
    const std::string path = f.relative.generic_string();
    if (!*in) {
      skipped.Add(path);
      continue;
    }
    const OpenedFile& file = **in;
    if (source.tree != nullptr) {
      BACKUP_TRY(AddOpenFileXattrs(file.fd.get(), path, *source.tree), "files");
    }
    ChunkedFile* entry = m.add_files();
    entry->set_path(std::string(kArchiveFilesPrefix) + path);
    entry->set_mode(file.mode);
    auto sha =
        writer.AddFile([&](int64_t at, char* buf,
                           int64_t n) { return PreadExactly(file.fd.get(), at, buf, n, path); },
                       file.size, kFileChunkBytes, kFileChunkBytes, *entry);
    if (!sha) return Fail(sha.error());
    entry->set_sha256(*sha);
    out.manifest.push_back(ManifestEntry{path, file.size, *sha, file.mode});
    ctx.AddItems(1);
  }
  return {};
}

std::string ReadBackProblem(const ChunkedManifest& m, const BackupRecord& backup,
                            const ArchiveWritten& out);

// The manifest, encoded as an archive is (compressed, sealed), stored at `key`.
Result<ObjectInfo> PutManifest(BackupStore& store, const std::string& manifest_key,
                               const Compression& compression, const EncryptionKey* key,
                               const ChunkedManifest& m) {
  std::string plain;
  if (!m.SerializeToString(&plain)) return Fail(Error::Internal("cannot encode the manifest"));
  auto object = store.Put(manifest_key, std::nullopt);
  if (!object) return Fail(object.error());
  auto encoder =
      Encoder::Create(compression, key, [&](std::string_view b) { return (*object)->Write(b); });
  if (!encoder) return Fail(encoder.error());
  BACKUP_TRY((*encoder)->Write(plain), "manifest");
  BACKUP_TRY((*encoder)->Finish(), "manifest");
  return (*object)->Commit();
}

ChunkedManifest NewManifest(const BackupRecord& backup, std::string_view id_scheme,
                            const EncryptionKey* key, int64_t chunk_bytes) {
  ChunkedManifest m;
  m.set_format(kRunsFormat);  // kFramesFormat once it names a frame of several chunks
  m.set_backup_id(backup.id);
  m.set_collection(backup.collection.Key());
  m.set_timestamp(backup.timestamp);
  m.set_id_scheme(std::string(id_scheme));
  m.set_key_id(key != nullptr ? key->id : "");
  m.set_chunk_bytes(chunk_bytes);
  return m;
}

}  // namespace

Result<ArchiveWritten> WriteChunked(BackupStore& store, const std::string& manifest_key,
                                    const Compression& compression, const EncryptionKey* key,
                                    const ChunkedSource& source, ChunkedBase* base,
                                    Skipped& skipped, ChunkedStats& stats, JobContext& ctx) {
  auto codec = ChunkCodec::Create(compression.zstd_level, key);  // for its id scheme
  if (!codec) return Fail(codec.error());
  const BackupRecord& backup = *source.backup;
  ChunkWriter writer(store, PackPrefix(backup.collection),
                     backup.id + ".a" + std::to_string(source.attempt), source.pack_bytes,
                     compression.zstd_level, key, source.index_cache, stats, ctx);
  if (base != nullptr) writer.LoadBase(*base);
  PageSnapshot& snap = *source.snapshot;
  const int64_t page = snap.page_size();
  // A quarter page by default (at least 512 bytes), a whole number of pages, or a part of
  // a page that divides it; the chunks of a page are stored in one frame (a quarter page
  // stores half the bytes after a change, compressed a page at a time it costs the full
  // backup 6 %: BENCHMARKS.md section 12).
  const int64_t asked = source.chunk_bytes > 0 ? source.chunk_bytes : page / 4;
  const int64_t chunk = asked < page && page % asked == 0 && asked >= kMinChunkBytes
                            ? asked
                            : std::max<int64_t>(page, asked / page * page);
  const int64_t frame =
      chunk < page ? std::min(std::max(page, kFrameBytes / page * page), chunk * kMaxFrameChunks)
                   : chunk;
  ChunkedManifest m = NewManifest(backup, (*codec)->id_scheme(), key, chunk);
  auto fail = [&](const Error& e) -> Result<ArchiveWritten> {
    writer.RemoveWritten();
    return Fail(e);
  };
  ChunkedFile* db = m.mutable_database();
  db->set_path(std::string(kArchiveDbEntry));
  db->set_mode(source.db_mode);
  auto db_sha =
      writer.AddFile([&](int64_t at, char* buf, int64_t n) { return snap.ReadAt(at, buf, n); },
                     snap.size(), chunk, frame, *db);
  if (!db_sha) return fail(db_sha.error().Context("snapshot"));
  db->set_sha256(*db_sha);
  ArchiveWritten out;
  out.db = FileDigest{snap.size(), *db_sha};
  if (source.on_snapshot_read) source.on_snapshot_read();  // `snap` may be gone after this
  if (auto s = AddFiles(writer, source, m, out, skipped, ctx); !s) return fail(s.error());
  m.set_files_skipped(skipped.count);
  ctx.SetPhase("upload");
  if (auto s = writer.Finish(m); !s) return fail(s.error());
  if (writer.framed()) m.set_format(kFramesFormat);
  if (source.files_dir != nullptr && source.tree != nullptr) {
    *m.mutable_tree() = TreeOfStored(*source.tree, StoredPaths(out.manifest));
  }
  if (std::string p = ReadBackProblem(m, backup, out); !p.empty()) {
    return fail(Error::Internal("the backup would not restore (" + p + "); not recorded"));
  }
  auto put = PutManifest(store, manifest_key, compression, key, m);
  if (!put) return fail(put.error());
  if (const IndexCacheRef& cache = source.index_cache; cache.cache != nullptr) {
    std::vector<std::string> names;
    for (const ChunkPack& p : m.packs()) names.push_back(p.name());
    cache.cache->Retain(cache.store, PackPrefix(backup.collection), names);
  }
  out.put = std::move(*put);
  stats.manifest_bytes = out.put.size;
  stats.new_bytes += out.put.size;
  return out;
}

Result<ChunkedManifest> LoadChunkedManifest(BackupStore& store, const BackupRecord& backup,
                                            const KeyRing& keys) {
  const int64_t max_plain = MaxManifestBytes(backup, backup.file_count);
  auto stored = ReadSmallObject(store, backup.object_key, max_plain + max_plain / 64 + 4096);
  if (!stored) return Fail(stored.error());
  std::string plain;
  auto decoder = Decoder::Create(backup.compression, backup.key_id, keys, max_plain,
                                 [&](std::string_view b) -> Status {
                                   plain.append(b);
                                   return {};
                                 });
  if (!decoder) return Fail(decoder.error());
  BACKUP_TRY((*decoder)->Feed(*stored), "manifest " + store.Locate(backup.object_key));
  BACKUP_TRY((*decoder)->Finish(), "manifest " + store.Locate(backup.object_key));
  ChunkedManifest m;
  if (!m.ParseFromString(plain)) {
    return Fail(Error::DataLoss(store.Locate(backup.object_key) + " is not a chunked manifest"));
  }
  return m;
}

namespace {

// A pack name that is not a plain name below the collection's prefix, or "".
std::string PackNameProblem(const ChunkedManifest& m, const std::string& prefix) {
  for (const auto& p : m.packs()) {
    if (p.name().find('/') != std::string::npos || !CheckObjectKey(prefix + p.name())) {
      return "pack name " + Shown(p.name());
    }
  }
  return "";
}

// The frames of a parsed index (`n` chunks in `frames` frames, ending where the index
// starts, at `end`) into `index`; "" or what is wrong with them.
std::string ParseFrames(const ChunkPackIndex& parsed, int n, int frames, int64_t end,
                        PackIndex& index) {
  index.ids.resize(static_cast<size_t>(n));
  std::memcpy(index.ids.data(), parsed.ids().data(), parsed.ids().size());
  for (auto* column : {&index.plain, &index.frame, &index.skip}) {
    column->reserve(static_cast<size_t>(n));
  }
  index.offset.reserve(static_cast<size_t>(frames));
  index.stored.reserve(static_cast<size_t>(frames));
  index.frame_plain.reserve(static_cast<size_t>(frames));
  index.frame_first.reserve(static_cast<size_t>(frames));
  index.frame_count.reserve(static_cast<size_t>(frames));
  int64_t at = 0;
  int k = 0;  // the frame's first chunk
  for (int f = 0; f < frames; ++f) {
    const int count = parsed.frame_chunks_size() > 0 ? static_cast<int>(parsed.frame_chunks(f)) : 1;
    if (count <= 0 || count > kMaxFrameChunks || count > n - k) {
      return "frame " + std::to_string(f) + " of its index is impossible";
    }
    int64_t frame_plain = 0;
    for (int i = k; i < k + count; ++i) {
      const int64_t plain_size = parsed.plain_size(i);
      if (plain_size <= 0 || plain_size > kMaxChunkBytes) {
        return "chunk " + std::to_string(i) + " of its index is impossible";
      }
      index.plain.push_back(static_cast<uint32_t>(plain_size));
      index.frame.push_back(static_cast<uint32_t>(f));
      index.skip.push_back(static_cast<uint32_t>(frame_plain));
      frame_plain += plain_size;
    }
    const int64_t stored_size = parsed.stored_size(f);
    if (frame_plain > kMaxChunkBytes || stored_size <= 0 ||
        stored_size > frame_plain + kChunkOverhead) {
      return "frame " + std::to_string(f) + " of its index is impossible";
    }
    index.offset.push_back(static_cast<uint64_t>(at));
    index.stored.push_back(static_cast<uint32_t>(stored_size));
    index.frame_plain.push_back(static_cast<uint32_t>(frame_plain));
    index.frame_first.push_back(static_cast<uint32_t>(k));
    index.frame_count.push_back(static_cast<uint32_t>(count));
    index.framed = index.framed || count > 1;
    at += stored_size;
    k += count;
  }
  if (k != n) return "its frames do not hold its chunks";
  if (at != end) return "its index does not add up to where it starts";
  return "";
}

// A pack's index as stored (`stored`, the bytes from p.index_offset() to its end), decoded
// and checked; `bad` says what is wrong.
Result<PackIndex> ParsePackIndex(const ChunkPack& p, const std::string& stored, ChunkCodec& codec,
                                 const std::function<Error(const std::string&)>& bad) {
  auto plain = codec.Decode(PackIndexId(p.name()), stored, p.index_plain(), false);
  if (!plain) return Fail(bad("index: " + plain.error().message()));
  ChunkPackIndex parsed;
  if (!parsed.ParseFromString(*plain)) return Fail(bad("its index is not one"));
  const int n = parsed.plain_size_size();
  // Format 3 has no frame list: every chunk is a frame of one.
  const int frames = parsed.frame_chunks_size() > 0 ? parsed.frame_chunks_size() : n;
  if (n == 0 || n > kPackMaxChunks || parsed.stored_size_size() != frames ||
      std::ssize(parsed.ids()) != int64_t{n} * 32) {
    return Fail(bad("its index lists differ in length"));
  }
  PackIndex index;
  if (std::string problem = ParseFrames(parsed, n, frames, p.index_offset(), index);
      !problem.empty()) {
    return Fail(bad(problem));
  }
  return index;
}

// One pack's index (formats 3 and 4), checked: kDataLoss when it is not the index the
// manifest says. From `cache` when it holds one that checks out, else read from the pack's
// end in the store (and then kept in `cache`).
Result<PackIndex> ReadPackIndex(BackupStore& store, const std::string& prefix, const ChunkPack& p,
                                ChunkCodec& codec, const IndexCacheRef& cache) {
  const std::string key = prefix + p.name();
  auto bad = [&](const std::string& what) {
    return Error::DataLoss("pack " + store.Locate(key) + ": " + what);
  };
  const int64_t stored_bytes = p.size() - p.index_offset();
  if (p.index_offset() <= 0 || stored_bytes <= 0 || p.index_plain() <= 0 ||
      p.index_plain() > kMaxChunkBytes || stored_bytes > p.index_plain() + kChunkOverhead) {
    return Fail(bad("its index is impossible"));
  }
  if (cache.cache != nullptr) {
    if (auto kept = cache.cache->Get(cache.store, prefix, p.name(), stored_bytes)) {
      if (auto index = ParsePackIndex(p, *kept, codec, bad)) return index;
    }
  }
  std::string stored;
  Status got = store.Get(key, p.index_offset(), stored_bytes, [&](std::string_view piece) {
    stored.append(piece);
    return std::ssize(stored) <= stored_bytes;
  });
  if (!got && got.error().code() == Code::kNotFound) {
    return Fail(Error::NotFound("pack " + store.Locate(key) + " is missing"));
  }
  if (!got && got.error().code() == Code::kDataLoss) return Fail(bad(got.error().message()));
  if (!got) return Fail(got.error().Context("pack index"));
  if (std::ssize(stored) != stored_bytes) return Fail(bad("its index is cut short"));
  auto index = ParsePackIndex(p, stored, codec, bad);
  if (index && cache.cache != nullptr) cache.cache->Put(cache.store, prefix, p.name(), stored);
  return index;
}

// The index of every pack `m` names (format 3), read several at a time.
Result<std::vector<PackIndex>> ReadPackIndexes(BackupStore& store, const std::string& prefix,
                                               const ChunkedManifest& m, const EncryptionKey* key,
                                               const IndexCacheRef& cache = {}) {
  if (std::string p = PackNameProblem(m, prefix); !p.empty()) {
    return Fail(Error::DataLoss("the manifest names " + p));
  }
  // The host's copies stand for packs the store holds, at their size: one listing says
  // which (a copy of a pack lost from the store must not make a backup build on it).
  std::unordered_map<std::string, int64_t> listed;
  if (cache.cache != nullptr) {
    auto objects = store.List(prefix);
    if (!objects) return Fail(objects.error().Context("list packs"));
    for (const ObjectInfo& o : *objects) listed.emplace(o.key, o.size);
  }
  auto cache_for = [&](const ChunkPack& p) {
    const auto it = listed.find(prefix + p.name());
    return it != listed.end() && it->second == p.size() ? cache : IndexCacheRef{};
  };
  std::vector<PackIndex> out(static_cast<size_t>(m.packs_size()));
  std::atomic<int> next{0};
  std::mutex mu;
  Status error;  // guarded by mu
  auto work = [&] {
    auto codec = ChunkCodec::Create(0, key);
    for (int i = next++; i < m.packs_size(); i = next++) {
      auto index = codec ? ReadPackIndex(store, prefix, m.packs(i), **codec, cache_for(m.packs(i)))
                         : Result<PackIndex>(Fail(codec.error()));
      std::lock_guard lock(mu);
      if (!index) {
        if (error) error = Fail(index.error());
        return;
      }
      out[static_cast<size_t>(i)] = std::move(*index);
    }
  };
  std::vector<std::thread> threads;
  const int n = std::min(kFetchThreads, m.packs_size());
  threads.reserve(static_cast<size_t>(n));
  for (int t = 0; t < n; ++t) threads.emplace_back(work);
  for (std::thread& t : threads) t.join();
  if (!error) return Fail(error.error());
  return out;
}

const EncryptionKey* KeyOf(const BackupRecord& backup, const KeyRing& keys) {
  return backup.key_id.empty() ? nullptr : keys.Find(backup.key_id);
}

}  // namespace

Result<ChunkedBase> LoadChunkedBase(BackupStore& store, const BackupRecord& backup,
                                    const KeyRing& keys, const PackIndexCache* cache) {
  auto m = LoadChunkedManifest(store, backup, keys);
  if (!m) return Fail(m.error());
  ChunkedBase base;
  base.manifest = std::move(*m);
  // Format 2 has no indexes to find chunks by; a later format than this reader knows is
  // not built on either (the next backup stores in full).
  if (base.manifest.format() < kRunsFormat || base.manifest.format() > kFramesFormat) {
    return base;
  }
  auto indexes = ReadPackIndexes(store, PackPrefix(backup.collection), base.manifest,
                                 KeyOf(backup, keys), IndexCacheRef{cache, backup.store});
  if (!indexes) return Fail(indexes.error());
  base.indexes = std::move(*indexes);
  return base;
}

namespace {

// Whether a manifest came with the columns only a reader fills.
bool FramesListed(const ChunkedFile& f) {
  return f.frame_skip_size() != 0 || f.frame_plain_size() != 0 || !f.frame_ids().empty();
}

// Format 2: every chunk a frame of its own. "" or what is wrong.
std::string SingleFrames(ChunkedFile& f) {
  if (FramesListed(f)) return "it lists frames";
  const int n = std::min<int>(ChunkCount(f), f.plain_size_size());
  for (int i = 0; i < n; ++i) {
    f.add_frame_skip(0);
    f.add_frame_plain(f.plain_size(i));
  }
  *f.mutable_frame_ids() = f.ids();
  return "";
}

// Format 2: SingleFrames for every file.
std::string SingleFramesAll(ChunkedManifest& m) {
  if (std::string p = SingleFrames(*m.mutable_database()); !p.empty()) return "the database: " + p;
  for (ChunkedFile& f : *m.mutable_files()) {
    if (std::string p = SingleFrames(f); !p.empty()) return "file " + Shown(f.path()) + ": " + p;
  }
  return "";
}

// What one file's chunk columns get wrong, or "" (each column as long as the others, the
// plain sizes adding up to the file, every chunk inside a pack of the manifest).
std::string StructureProblem(const ChunkedFile& f, const ChunkedManifest& m) {
  const int n = ChunkCount(f);
  if (std::ssize(f.ids()) != int64_t{n} * 32 || f.offset_size() != n || f.stored_size_size() != n ||
      f.plain_size_size() != n || f.frame_skip_size() != n || f.frame_plain_size() != n ||
      std::ssize(f.frame_ids()) != int64_t{n} * 32) {
    return "its chunk lists differ in length";
  }
  int64_t total = 0;
  for (int i = 0; i < n; ++i) {
    const int64_t plain = f.plain_size(i);
    const int64_t stored = f.stored_size(i);
    const int64_t frame = f.frame_plain(i);
    if (plain <= 0 || frame > kMaxChunkBytes || int64_t{f.frame_skip(i)} + plain > frame ||
        stored > frame + kChunkOverhead || f.pack(i) >= static_cast<uint32_t>(m.packs_size())) {
      return "chunk " + std::to_string(i) + " is impossible";
    }
    const auto& pack = m.packs(static_cast<int>(f.pack(i)));
    if (f.offset(i) > static_cast<uint64_t>(pack.size()) ||
        static_cast<int64_t>(f.offset(i)) + stored > pack.size()) {
      return "chunk " + std::to_string(i) + " lies outside its pack";
    }
    total += plain;
  }
  if (total != f.size()) return "its chunks hold " + std::to_string(total) + " bytes";
  return "";
}

// What the manifest says differently from the catalogue, or "" (its chunks aside).
std::string ManifestDiffers(const ChunkedManifest& m, const BackupRecord& backup,
                            const std::vector<ManifestEntry>& files, const std::string& prefix) {
  if (m.format() < 2 || m.format() > kFramesFormat) {
    return "format " + std::to_string(m.format()) + ", not 2, 3 or 4";
  }
  if (m.backup_id() != backup.id) return "backup id " + Shown(m.backup_id());
  if (m.key_id() != backup.key_id) return "key id " + Shown(m.key_id());
  if (std::string p = PackNameProblem(m, prefix); !p.empty()) return p;
  const ChunkedFile& db = m.database();
  if (db.path() != kArchiveDbEntry || db.size() != backup.db_bytes ||
      db.sha256() != backup.sha256) {
    return "the database";
  }
  if (m.files_size() != std::ssize(files)) {
    return std::to_string(m.files_size()) + " files, not " + std::to_string(files.size());
  }
  // Paired by name, not by place: backups written before listings were sorted by their
  // bytes list their files in another order than the catalogue returns them.
  std::map<std::string_view, const ManifestEntry*> catalogued;
  for (const ManifestEntry& e : files) catalogued.emplace(e.path, &e);
  for (const ChunkedFile& f : m.files()) {
    const std::string_view name = f.path();
    auto it = name.starts_with(kArchiveFilesPrefix)
                  ? catalogued.find(name.substr(kArchiveFilesPrefix.size()))
                  : catalogued.end();
    if (it == catalogued.end() || f.size() != it->second->size ||
        f.sha256() != it->second->sha256 || f.mode() != it->second->mode) {
      return "file " + Shown(f.path());
    }
    catalogued.erase(it);
  }
  return "";
}

// What the restore's own checks would find wrong with `m` as it is about to be stored,
// before any of its bytes are needed: parsed back from its encoding, compared with the
// catalogue's entries for the backup (paired by name), every name one a restore accepts.
std::string ReadBackProblem(const ChunkedManifest& m, const BackupRecord& backup,
                            const ArchiveWritten& out) {
  std::string plain;
  ChunkedManifest back;
  if (!m.SerializeToString(&plain) || !back.ParseFromString(plain)) {
    return "the manifest does not parse back";
  }
  BackupRecord recorded = backup;
  recorded.db_bytes = out.db.size;
  recorded.sha256 = out.db.sha256;
  if (std::string d = ManifestDiffers(back, recorded, out.manifest, PackPrefix(backup.collection));
      !d.empty()) {
    return "the manifest differs from the catalogue: " + d;
  }
  for (const ManifestEntry& e : out.manifest) {
    if (auto ok = CheckRelativeName(e.path); !ok) return ok.error().message();
  }
  return "";
}

// The catalogue's entries in the order of the manifest's files (ManifestDiffers found
// each exactly once).
std::vector<ManifestEntry> InManifestOrder(const ChunkedManifest& m,
                                           const std::vector<ManifestEntry>& files) {
  std::map<std::string_view, const ManifestEntry*> by_path;
  for (const ManifestEntry& e : files) by_path.emplace(e.path, &e);
  std::vector<ManifestEntry> out;
  out.reserve(files.size());
  for (const ChunkedFile& f : m.files()) {
    out.push_back(*by_path.at(std::string_view(f.path()).substr(kArchiveFilesPrefix.size())));
  }
  return out;
}

// What the chunk lists of the manifest's files get wrong (StructureProblem), or "".
std::string ChunksProblem(const ChunkedManifest& m) {
  if (std::string p = StructureProblem(m.database(), m); !p.empty()) return "the database: " + p;
  for (const ChunkedFile& f : m.files()) {
    if (std::string p = StructureProblem(f, m); !p.empty())
      return "file " + Shown(f.path()) + ": " + p;
  }
  return "";
}

// The id that seals the frame a run's chunks lie in, worked out once a frame.
struct FrameSeal {
  uint32_t pack = UINT32_MAX;
  uint32_t frame = 0;
  ChunkId id{};
};

// Chunk k of `index` (pack `pack` of the manifest) appended to a file's chunk columns.
void AppendChunk(const PackIndex& index, uint32_t pack, size_t k, FrameSeal& seal, ChunkedFile& f) {
  const uint32_t frame = index.frame[k];
  if (pack != seal.pack || frame != seal.frame) {
    seal = FrameSeal{pack, frame,
                     FrameId(&index.ids[index.frame_first[frame]], index.frame_count[frame])};
  }
  f.mutable_ids()->append(reinterpret_cast<const char*>(index.ids[k].data()), 32);
  f.add_pack(pack);
  f.add_offset(index.offset[frame]);
  f.add_stored_size(index.stored[frame]);
  f.add_plain_size(index.plain[k]);
  f.add_frame_skip(index.skip[k]);
  f.add_frame_plain(index.frame_plain[frame]);
  f.mutable_frame_ids()->append(reinterpret_cast<const char*>(seal.id.data()), 32);
}

// Format 3: one file's runs turned into chunk columns (format 2's) from the packs'
// indexes. Every chunk but the last holds exactly `chunk` bytes and they add up to no more
// than the file (whose size the catalogue confirmed), so a hostile manifest cannot make
// this list longer than the file's size over `chunk`.
std::string ExpandFile(ChunkedFile& f, int64_t chunk, const std::vector<PackIndex>& indexes) {
  const int runs = f.run_pack_size();
  if (f.run_first_size() != runs || f.run_count_size() != runs) return "its runs differ in length";
  if (!f.ids().empty() || f.pack_size() != 0 || f.offset_size() != 0 || f.stored_size_size() != 0 ||
      f.plain_size_size() != 0 || FramesListed(f)) {
    return "it lists chunks one by one";
  }
  const int64_t most = f.size() / chunk + 1;
  f.mutable_ids()->reserve(static_cast<size_t>(most) * 32);
  FrameSeal seal;
  int64_t total = 0;
  int64_t last_plain = chunk;
  for (int r = 0; r < runs; ++r) {
    const uint32_t pack = f.run_pack(r);
    const uint64_t first = f.run_first(r);
    const uint64_t count = f.run_count(r);
    if (pack >= indexes.size() || count == 0 || first + count > indexes[pack].ids.size()) {
      return "run " + std::to_string(r) + " lies outside its pack's index";
    }
    const PackIndex& index = indexes[pack];
    for (uint64_t k = first; k < first + count; ++k) {
      if (last_plain != chunk) return "a chunk before its last is short";
      last_plain = index.plain[k];
      total += last_plain;
      if (total > f.size())
        return "its chunks hold more than its " + std::to_string(f.size()) + " bytes";
      AppendChunk(index, pack, static_cast<size_t>(k), seal, f);
    }
  }
  return "";
}

// Format 3: every file's runs expanded (see ExpandFile); "" or what is wrong.
std::string ExpandRuns(ChunkedManifest& m, const std::vector<PackIndex>& indexes) {
  const int64_t chunk = m.chunk_bytes();
  if (chunk < kMinChunkBytes || chunk > kMaxChunkBytes) {
    return "chunk size " + std::to_string(chunk);
  }
  if (std::string p = ExpandFile(*m.mutable_database(), chunk, indexes); !p.empty()) {
    return "the database: " + p;
  }
  for (ChunkedFile& f : *m.mutable_files()) {
    if (std::string p = ExpandFile(f, kFileChunkBytes, indexes); !p.empty()) {
      return "file " + Shown(f.path()) + ": " + p;
    }
  }
  return "";
}

// One chunk to fetch and where its plain bytes go.
struct Piece {
  uint64_t offset;  // of its frame, `stored` bytes in the pack
  uint32_t pack;
  uint32_t stored;
  uint32_t plain;
  uint32_t skip;  // where it starts in its frame's plain bytes
  uint32_t frame_plain;
  uint32_t chunk;  // its place in its file's chunk columns (its id, its frame's id)
  int target;      // 0: the database, i: files[i - 1]
  int64_t at;      // offset in the target
};

// A chunk's id, or the id that seals its frame, from a file's chunk columns.
ChunkId IdIn(const std::string& ids, uint32_t chunk) {
  ChunkId id{};
  std::memcpy(id.data(), ids.data() + static_cast<ptrdiff_t>(chunk) * 32, 32);
  return id;
}

struct Target {
  std::string name;
  fs::path path;
  UniqueFd fd;
};

// Fetches pieces pack by pack on several threads, writing each chunk where it belongs and
// telling `hasher` what is written.
class Fetcher {
 public:
  Fetcher(BackupStore& store, const ChunkedManifest& m, std::string prefix,
          std::vector<Piece> pieces, std::vector<Target>& targets, OrderedHasher& hasher,
          bool check_ids, JobContext& ctx)
      : check_ids_(check_ids),
        store_(store),
        m_(m),
        prefix_(std::move(prefix)),
        pieces_(std::move(pieces)),
        targets_(targets),
        hasher_(hasher),
        ctx_(ctx) {
    std::sort(pieces_.begin(), pieces_.end(), [](const Piece& a, const Piece& b) {
      return std::tie(a.pack, a.offset, a.skip) < std::tie(b.pack, b.offset, b.skip);
    });
    for (size_t i = 0; i < pieces_.size(); ++i) {
      if (i == 0 || pieces_[i].pack != pieces_[i - 1].pack) starts_.push_back(i);
    }
    starts_.push_back(pieces_.size());
  }

  // An error for what is not the backup's fault; its faults go to `problems`.
  Status Run(const EncryptionKey* key, std::vector<std::string>& problems) {
    std::vector<std::thread> threads;
    const size_t packs = starts_.size() - 1;
    const int n = static_cast<int>(std::min<size_t>(kFetchThreads, packs));
    threads.reserve(static_cast<size_t>(n));
    for (int t = 0; t < n; ++t) threads.emplace_back([this, key] { Work(key); });
    for (std::thread& t : threads) t.join();
    problems.insert(problems.end(), problems_.begin(), problems_.end());
    return error_;
  }

 private:
  void Work(const EncryptionKey* key) {
    auto codec = ChunkCodec::Create(0, key);
    if (!codec) return Stop(codec.error());
    FrameCache frame;
    frame.codec = codec->get();
    for (;;) {
      const size_t p = next_.fetch_add(1);
      if (p + 1 >= starts_.size() || stop_.load()) return;
      if (ctx_.cancelled()) return Stop(Error::Cancelled("cancelled while fetching chunks"));
      Status s = FetchPack(starts_[p], starts_[p + 1], frame);
      if (!s) return Stop(s.error());
    }
  }

  // A fetching thread's codec and the frame it decoded last.
  struct FrameCache {
    ChunkCodec* codec = nullptr;
    bool valid = false;
    uint32_t pack = 0;
    uint64_t offset = 0;
    std::string plain;
    std::string error;  // why the last frame did not decode
  };

  const ChunkedFile& FileOf(int target) const {
    return target == 0 ? m_.database() : m_.files(target - 1);
  }

  // Plain bytes bound for consecutive places of one target: written with one pwrite.
  struct WriteRun {
    int target = -1;
    int64_t at = 0;
    std::string bytes;
  };

  Status FetchPack(size_t begin, size_t end, FrameCache& frame) {
    const std::string key = prefix_ + m_.packs(static_cast<int>(pieces_[begin].pack)).name();
    std::string buf;
    WriteRun run;
    for (size_t i = begin; i < end;) {
      const uint64_t from = pieces_[i].offset;
      size_t j = i + 1;
      uint64_t to = from + pieces_[i].stored;
      while (j < end && pieces_[j].offset <= to + kFetchGap &&
             pieces_[j].offset + pieces_[j].stored - from <= static_cast<uint64_t>(kFetchMax)) {
        to = std::max<uint64_t>(to, pieces_[j].offset + pieces_[j].stored);
        ++j;
      }
      buf.clear();
      Status got = store_.Get(key, static_cast<int64_t>(from), static_cast<int64_t>(to - from),
                              [&](std::string_view piece) {
                                buf.append(piece);
                                return !stop_.load();
                              });
      if (!got &&
          (got.error().code() == Code::kNotFound || got.error().code() == Code::kDataLoss)) {
        return Problem("pack " + store_.Locate(key) + ": " + got.error().message());
      }
      if (!got) return got;
      BACKUP_TRY(PlaceAll(i, j, buf, from, frame, run), "restore chunk");
      i = j;
    }
    return Flush(run);
  }

  // Makes `run` the one `p`'s bytes extend: the same when they follow it, else a new one
  // (the old one written).
  Status StartRun(const Piece& p, WriteRun& run) {
    if (run.target == p.target && run.at + std::ssize(run.bytes) == p.at &&
        std::ssize(run.bytes) < kWriteRun) {
      return {};
    }
    BACKUP_TRY(Flush(run), "restore chunk");
    run.target = p.target;
    run.at = p.at;
    return {};
  }

  // Pieces [i, j), fetched into `buf` from `from`, written where they belong.
  Status PlaceAll(size_t i, size_t j, const std::string& buf, uint64_t from, FrameCache& frame,
                  WriteRun& run) {
    while (i < j) {
      if (const size_t whole = WholeFrame(i, j); whole > i) {
        BACKUP_TRY(PlaceFrame(i, whole, buf, from, *frame.codec, run), "restore frame");
        i = whole;
        continue;
      }
      BACKUP_TRY(Place(pieces_[i], buf, from, frame, run), "restore chunk");
      ++i;
    }
    return {};
  }

  // When pieces_[i, ...) are every chunk of a frame of several, in order, bound for
  // consecutive places of one target (a page whose chunks all went into one frame), the
  // end of them; else i.
  size_t WholeFrame(size_t i, size_t end) const {
    const Piece& first = pieces_[i];
    if (first.frame_plain == first.plain || first.skip != 0) return i;
    uint32_t covered = 0;
    size_t k = i;
    for (; k < end && pieces_[k].offset == first.offset && pieces_[k].pack == first.pack; ++k) {
      const Piece& p = pieces_[k];
      if (p.skip != covered || p.target != first.target || p.at != first.at + p.skip) return i;
      covered += p.plain;
    }
    return covered == first.frame_plain ? k : i;
  }

  // A whole frame (WholeFrame) decoded straight into place; a verify hashes each chunk.
  Status PlaceFrame(size_t i, size_t end, const std::string& buf, uint64_t from, ChunkCodec& codec,
                    WriteRun& run) {
    const Piece& p = pieces_[i];
    BACKUP_TRY(StartRun(p, run), "restore chunk");
    const ChunkedFile& file = FileOf(p.target);
    const std::string_view stored(buf.data() + (p.offset - from), p.stored);
    const size_t start = run.bytes.size();
    if (auto s = codec.DecodeAppend(IdIn(file.frame_ids(), p.chunk), stored, p.frame_plain, false,
                                    run.bytes);
        !s) {
      return Problem("the frame of chunk " + ChunkIdHex(IdIn(file.ids(), p.chunk)) + ": " +
                     s.error().message());
    }
    for (size_t k = i; check_ids_ && k < end; ++k) {
      const Piece& c = pieces_[k];
      const ChunkId id = IdIn(file.ids(), c.chunk);
      if (codec.Id(std::string_view(run.bytes).substr(start + c.skip, c.plain)) != id) {
        run.bytes.resize(start);  // nothing of a frame that does not check out is written
        return Problem("chunk " + ChunkIdHex(id) + " does not match its id");
      }
    }
    ctx_.AddBytes(p.frame_plain);
    return {};
  }

  Status Place(const Piece& p, const std::string& buf, uint64_t from, FrameCache& frame,
               WriteRun& run) {
    BACKUP_TRY(StartRun(p, run), "restore chunk");
    const std::string_view stored(buf.data() + (p.offset - from), p.stored);
    ChunkCodec& codec = *frame.codec;
    const ChunkedFile& file = FileOf(p.target);
    const ChunkId id = IdIn(file.ids(), p.chunk);
    if (p.frame_plain == p.plain) {  // a chunk alone in its frame: decoded straight into place
      if (auto s = codec.DecodeAppend(id, stored, p.plain, check_ids_, run.bytes); !s) {
        return Problem(s.error().message());
      }
    } else {
      const std::string_view plain =
          DecodedFrame(p, IdIn(file.frame_ids(), p.chunk), stored, frame);
      if (plain.empty())
        return Problem("the frame of chunk " + ChunkIdHex(id) + ": " + frame.error);
      const std::string_view slice = plain.substr(p.skip, p.plain);
      if (check_ids_ && codec.Id(slice) != id) {
        return Problem("chunk " + ChunkIdHex(id) + " does not match its id");
      }
      run.bytes.append(slice);
    }
    ctx_.AddBytes(p.plain);
    return {};
  }

  // The plain bytes of the frame `p` lies in (the last one decoded on this thread, when it
  // is that one), or empty after noting the problem.
  std::string_view DecodedFrame(const Piece& p, const ChunkId& frame_id, std::string_view stored,
                                FrameCache& cache) {
    if (!cache.valid || cache.pack != p.pack || cache.offset != p.offset) {
      cache.valid = false;
      cache.plain.clear();
      if (auto s = cache.codec->DecodeAppend(frame_id, stored, p.frame_plain, false, cache.plain);
          !s) {
        cache.error = s.error().message();
        return {};
      }
      cache.valid = true;
      cache.pack = p.pack;
      cache.offset = p.offset;
    }
    return cache.plain;
  }

  Status Flush(WriteRun& run) {
    if (run.bytes.empty()) return {};
    const Target& t = targets_[static_cast<size_t>(run.target)];
    // One writer at a time: the kernel serialises writes to a file anyway, and waiting here
    // sleeps where waiting on the inode's lock spins (measured: 5 % of a restore's CPU).
    {
      std::lock_guard lock(write_mu_);
      for (size_t done = 0; done < run.bytes.size();) {
        const ssize_t n = ::pwrite(t.fd.get(), run.bytes.data() + done, run.bytes.size() - done,
                                   run.at + static_cast<int64_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Fail(Error::FromErrno(errno, "write " + t.name));
        done += static_cast<size_t>(n);
      }
    }
    hasher_.Written(static_cast<size_t>(run.target), run.at, std::ssize(run.bytes));
    run.bytes.clear();
    return {};
  }

  Status Problem(std::string problem) {
    std::lock_guard lock(mu_);
    if (problems_.size() < 20) problems_.push_back(std::move(problem));
    return {};
  }

  void Stop(const Error& e) {
    std::lock_guard lock(mu_);
    if (error_) error_ = Fail(e);
    stop_.store(true);
  }

  const bool check_ids_;
  BackupStore& store_;
  const ChunkedManifest& m_;
  const std::string prefix_;
  std::vector<Piece> pieces_;
  std::vector<size_t> starts_;  // where each pack's pieces begin, and the end
  std::vector<Target>& targets_;
  OrderedHasher& hasher_;
  JobContext& ctx_;
  std::atomic<size_t> next_{0};
  std::atomic<bool> stop_{false};
  std::mutex write_mu_;
  std::mutex mu_;
  std::vector<std::string> problems_;
  Status error_;
};

void AddPieces(const ChunkedFile& f, int target, std::vector<Piece>& pieces) {
  int64_t at = 0;
  for (int i = 0; i < ChunkCount(f); ++i) {
    pieces.push_back(Piece{f.offset(i), f.pack(i), f.stored_size(i), f.plain_size(i),
                           f.frame_skip(i), f.frame_plain(i), static_cast<uint32_t>(i), target,
                           at});
    at += f.plain_size(i);
  }
}

Result<UniqueFd> CreateSized(const fs::path& path, int mode, int64_t size) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     static_cast<mode_t>(mode & 07777)));
  if (fd.get() < 0) return Fail(Error::FromErrno(errno, "create " + path.string()));
  if (::fchmod(fd.get(), static_cast<mode_t>(mode & 07777)) != 0 ||
      ::ftruncate(fd.get(), size) != 0) {
    return Fail(Error::FromErrno(errno, "size " + path.string()));
  }
  return fd;
}

}  // namespace

namespace {

// The backup's manifest, read and checked against the catalogue; nullopt (with the reason
// in `problems`) when it is the backup's fault: missing, not authentic, not this backup's.
Result<std::optional<ChunkedManifest>> CheckedManifest(BackupStore& store,
                                                       const BackupRecord& backup,
                                                       const std::vector<ManifestEntry>& manifest,
                                                       const KeyRing& keys,
                                                       std::vector<std::string>& problems) {
  auto backups_fault = [](const Error& e) {
    return e.code() == Code::kDataLoss || e.code() == Code::kNotFound;
  };
  auto m = LoadChunkedManifest(store, backup, keys);
  if (!m && backups_fault(m.error())) {
    problems.push_back("manifest: " + m.error().message());
    return std::optional<ChunkedManifest>();
  }
  if (!m) return Fail(m.error());
  const std::string prefix = PackPrefix(backup.collection);
  if (std::string d = ManifestDiffers(*m, backup, manifest, prefix); !d.empty()) {
    problems.push_back("the manifest differs from the catalogue: " + d);
    return std::optional<ChunkedManifest>();
  }
  if (m->format() >= kRunsFormat) {
    auto indexes = ReadPackIndexes(store, prefix, *m, KeyOf(backup, keys));
    if (!indexes && backups_fault(indexes.error())) {
      problems.push_back(indexes.error().message());
      return std::optional<ChunkedManifest>();
    }
    if (!indexes) return Fail(indexes.error());
    if (std::string p = ExpandRuns(*m, *indexes); !p.empty()) {
      problems.push_back("the manifest is not well formed: " + p);
      return std::optional<ChunkedManifest>();
    }
  } else if (std::string p = SingleFramesAll(*m); !p.empty()) {
    problems.push_back("the manifest is not well formed: " + p);
    return std::optional<ChunkedManifest>();
  }
  if (std::string p = ChunksProblem(*m); !p.empty()) {
    problems.push_back("the manifest is not well formed: " + p);
    return std::optional<ChunkedManifest>();
  }
  return std::optional<ChunkedManifest>(std::move(*m));
}

// The files a read writes, each created at its full size, and the chunks to fetch into
// them: the database first, then the files folder's files (below `files_dir`).
Status CreateTargets(const ChunkedManifest& m, const std::vector<ManifestEntry>& manifest,
                     const ArchiveTargets& targets, const fs::path& files_dir,
                     std::vector<Target>& out, std::vector<Piece>& pieces) {
  auto fd = CreateSized(targets.db, targets.db_mode, m.database().size());
  if (!fd) return Fail(fd.error());
  out.push_back(Target{std::string(kArchiveDbEntry), targets.db, std::move(*fd)});
  AddPieces(m.database(), 0, pieces);
  if (manifest.empty()) return {};
  BACKUP_TRY(CreateDirs(files_dir), "restore files");
  auto root = PinnedDir::Root(files_dir);
  if (!root) return Fail(root.error().Context("restore files"));
  FolderPins pins(std::move(*root), /*create=*/true, kRestoredFolderMode);
  for (size_t i = 0; i < manifest.size(); ++i) {
    const ManifestEntry& e = manifest[i];
    // Through its folder's descriptor: a path of any length, and no link followed.
    auto pinned = pins.Pin(e.path);
    if (!pinned) return Fail(pinned.error().Context("restore files"));
    // setuid and setgid only with the owner (ApplyTree)
    auto file = CreateSized(pinned->path(), targets.files ? e.mode & 0777 : 0600, e.size);
    if (!file) return Fail(file.error().Context(ShowName(e.path)));
    out.push_back(Target{e.path, files_dir / e.path, std::move(*file)});
    AddPieces(m.files(static_cast<int>(i)), static_cast<int>(i) + 1, pieces);
  }
  return {};
}

// Each reassembled file's SHA-256 (hashed as it was written) against the one the manifest
// (and catalogue) record.
void CheckWholes(const ChunkedManifest& m, const std::vector<Target>& out,
                 const std::vector<std::string>& digests, std::vector<std::string>& problems) {
  for (size_t i = 0; i < out.size(); ++i) {
    const ChunkedFile& f = i == 0 ? m.database() : m.files(static_cast<int>(i) - 1);
    if (digests[i] != f.sha256()) {
      problems.push_back(out[i].name + " reassembled differs from the SHA-256 recorded at backup");
    }
  }
}

}  // namespace

Result<std::vector<std::string>> ReadChunked(BackupStore& store, const BackupRecord& backup,
                                             const std::vector<ManifestEntry>& manifest,
                                             const KeyRing& keys, const ArchiveTargets& targets,
                                             JobContext& ctx) {
  const EncryptionKey* key = nullptr;
  if (!backup.key_id.empty()) {
    key = keys.Find(backup.key_id);
    if (key == nullptr) {
      return Fail(Error::FailedPrecondition("this process does not have encryption key " +
                                            backup.key_id + " (--encryption-key-file)"));
    }
  }
  std::vector<std::string> problems;
  auto m = CheckedManifest(store, backup, manifest, keys, problems);
  if (!m) return Fail(m.error());
  if (!*m) return problems;
  const std::string prefix = PackPrefix(backup.collection);
  // The files go where the restore wants them, or (a verify) to a scratch folder beside
  // the database, removed at the end.
  const fs::path files_dir =
      targets.files ? *targets.files : fs::path(targets.db.string() + ".files");
  std::optional<ScopedRemove> scratch;
  if (!targets.files && (!manifest.empty() || (*m)->tree_size() > 0)) scratch.emplace(files_dir);
  const std::vector<ManifestEntry> ordered = InManifestOrder(**m, manifest);
  std::vector<Target> out;
  std::vector<Piece> pieces;
  BACKUP_TRY(CreateTargets(**m, ordered, targets, files_dir, out, pieces), "restore");
  const auto started = std::chrono::steady_clock::now();
  const size_t chunk_count = pieces.size();
  std::vector<OrderedHasher::File> hashed;
  hashed.reserve(out.size());
  for (const Target& t : out) hashed.push_back({t.fd.get(), 0});
  hashed[0].size = (*m)->database().size();
  for (size_t i = 1; i < out.size(); ++i) hashed[i].size = ordered[i - 1].size;
  OrderedHasher hasher(std::move(hashed));
  Fetcher fetch(store, **m, prefix, std::move(pieces), out, hasher, targets.check_chunk_ids, ctx);
  Status fetched_all = fetch.Run(key, problems);
  const auto fetched = std::chrono::steady_clock::now();
  auto digests = hasher.Finish(!fetched_all || !problems.empty());
  BACKUP_TRY(fetched_all, "read chunks");
  if (!problems.empty()) return problems;
  if (!digests) return Fail(digests.error().Context("check"));
  // Every chunk is in place; the whole must match what the backup recorded.
  CheckWholes(**m, out, *digests, problems);
  if (problems.empty() && (*m)->tree_size() > 0) {
    // The rest of the tree, as a restore gives it (a verify does it in its scratch folder).
    BACKUP_TRY(CreateDirs(files_dir), "restore files");
    TreeReport ignored;
    BACKUP_TRY(ApplyTree(files_dir, (*m)->tree(), targets.report ? *targets.report : ignored),
               "restore files");
  }
  spdlog::debug("{} read {} chunks from {} packs in {} ms, hashed {} ms after", ctx.LogTag(),
                chunk_count, (*m)->packs_size(),
                std::chrono::duration_cast<std::chrono::milliseconds>(fetched - started).count(),
                std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - fetched)
                    .count());
  return problems;
}

Result<std::vector<std::string>> QuickCheckChunked(BackupStore& store, const BackupRecord& backup,
                                                   const std::vector<ManifestEntry>& manifest,
                                                   const KeyRing& keys) {
  std::vector<std::string> problems;
  auto m = CheckedManifest(store, backup, manifest, keys, problems);
  if (!m) return Fail(m.error());
  if (!*m) return problems;
  const std::string prefix = PackPrefix(backup.collection);
  for (const auto& p : (*m)->packs()) {
    auto info = store.Stat(prefix + p.name());
    if (!info) return Fail(info.error());
    if (!*info) {
      problems.push_back("pack " + store.Locate(prefix + p.name()) + " is missing");
    } else if ((*info)->size != p.size()) {
      problems.push_back("pack " + store.Locate(prefix + p.name()) + " has " +
                         std::to_string((*info)->size) + " bytes, expected " +
                         std::to_string(p.size()));
    }
  }
  return problems;
}

}  // namespace backup
