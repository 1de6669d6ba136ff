#include "worker/archive_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <map>

#include <spdlog/spdlog.h>

#include <google/protobuf/util/json_util.h>

#include "archive_manifest.pb.h"
#include "common/async_sha256.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/text.h"
#include "storage/object_stream.h"
#include "storage/tar_stream.h"
#include "worker/chunked_io.h"

namespace backup {
namespace fs = std::filesystem;

namespace {

constexpr size_t kCopyBuffer = 1 << 20;
constexpr int64_t kPagesBlock = 4 << 20;

// Hands exactly `size` bytes of `fd` to `out`, hashing them. kUnavailable when the file
// ends before (it shrank while it was read: the attempt is retried).
Result<std::string> CopyExactly(int fd, int64_t size, const std::string& name, const ByteOut& out,
                                JobContext& ctx) {
  std::string buf(kCopyBuffer, '\0');
  Sha256 hash;
  for (int64_t done = 0; done < size;) {
    if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled while archiving " + name));
    const auto want = static_cast<size_t>(std::min<int64_t>(size - done, std::ssize(buf)));
    const ssize_t n = ::read(fd, buf.data(), want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(Error::FromErrno(errno, "read " + name));
    if (n == 0) {
      return Fail(Error::Unavailable(name + " shrank while it was archived (" +
                                     std::to_string(done) + " of " + std::to_string(size) +
                                     " bytes); the attempt is retried"));
    }
    const std::string_view piece(buf.data(), static_cast<size_t>(n));
    hash.Update(piece.data(), piece.size());
    BACKUP_TRY(out(piece), "archive " + name);
    done += n;
    ctx.AddBytes(n);
  }
  return hash.HexDigest();
}

// Hands the page snapshot to `out`, hashing it on another thread meanwhile.
Result<std::string> CopyPages(PageSnapshot& pages, const ByteOut& out, JobContext& ctx) {
  AsyncSha256 hash;
  for (int64_t done = 0; done < pages.size();) {
    if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled while archiving the snapshot"));
    const int64_t n = std::min<int64_t>(pages.size() - done, kPagesBlock);
    auto block = std::make_shared<std::string>(static_cast<size_t>(n), '\0');
    BACKUP_TRY(pages.ReadAt(done, block->data(), n), "snapshot");
    hash.Add(block);
    BACKUP_TRY(out(*block), "archive the snapshot");
    done += n;
    ctx.AddBytes(n);
  }
  return hash.Finish();
}

// The snapshot, as the archive's first entry: from the page snapshot or the staged file.
Result<FileDigest> ArchiveSnapshot(const ArchiveSource& source, TarWriter& tar, int64_t mtime,
                                   JobContext& ctx) {
  const auto to_tar = [&](std::string_view b) { return tar.Data(b); };
  if (source.pages != nullptr) {
    const int64_t size = source.pages->size();
    BACKUP_TRY(tar.Begin(std::string(kArchiveDbEntry), size, source.db_mode, mtime), "archive");
    auto sha = CopyPages(*source.pages, to_tar, ctx);
    if (!sha) return Fail(sha.error());
    if (source.on_snapshot_read) source.on_snapshot_read();
    return FileDigest{size, std::move(*sha)};
  }
  UniqueFd db(::open(source.snapshot.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (db.get() < 0 || ::fstat(db.get(), &st) != 0) {
    return Fail(Error::FromErrno(errno, "open the snapshot " + source.snapshot.string()));
  }
  ::posix_fadvise(db.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  BACKUP_TRY(tar.Begin(std::string(kArchiveDbEntry), st.st_size, source.db_mode, mtime), "archive");
  auto sha = CopyExactly(db.get(), st.st_size, std::string(kArchiveDbEntry), to_tar, ctx);
  if (!sha) return Fail(sha.error());
  return FileDigest{st.st_size, std::move(*sha)};
}

// A name read from a backup, fit for a message and a log line.
std::string Shown(std::string_view name) { return ShowName(name, 200); }

collector::archive::ArchivedFile ToArchived(std::string name, int64_t size, std::string sha256,
                                            int mode) {
  collector::archive::ArchivedFile f;
  if (IsUtf8(name)) {
    f.set_path(std::move(name));
  } else {
    f.set_path_bytes(std::move(name));  // JSON strings hold only UTF-8
  }
  f.set_size(size);
  f.set_sha256(std::move(sha256));
  f.set_mode(mode);
  return f;
}

// MANIFEST.json: what the archive holds, as the catalogue records it.
collector::archive::ArchiveManifest MakeManifest(const BackupRecord& backup, const FileDigest& db,
                                                 int db_mode,
                                                 const std::vector<ManifestEntry>& files,
                                                 const Skipped& skipped, const Tree* tree) {
  collector::archive::ArchiveManifest m;
  m.set_format(1);
  m.set_backup_id(backup.id);
  m.set_collection(backup.collection.Key());
  m.set_timestamp(backup.timestamp);
  *m.mutable_database() = ToArchived(std::string(kArchiveDbEntry), db.size, db.sha256, db_mode);
  for (const ManifestEntry& e : files) {
    *m.add_files() =
        ToArchived(std::string(kArchiveFilesPrefix) + e.path, e.size, e.sha256, e.mode);
  }
  m.set_files_skipped(skipped.count);
  if (tree != nullptr) *m.mutable_tree() = TreeOfStored(*tree, StoredPaths(files));
  return m;
}

Status WriteManifest(TarWriter& tar, const collector::archive::ArchiveManifest& manifest,
                     int64_t mtime) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(manifest, &json, options).ok()) {
    return Fail(Error::Internal("cannot write the archive's manifest"));
  }
  BACKUP_TRY(tar.Begin(std::string(kArchiveManifestEntry), std::ssize(json), 0600, mtime),
             "archive");
  return tar.Data(json);
}

// Archives one file of the files folder; nullopt when it is no longer a regular file
// inside it (skipped, as CopyTree does).
Result<std::optional<ManifestEntry>> ArchiveFile(const PinnedDir& root, const SourceFile& f,
                                                 Tree* tree, TarWriter& tar, JobContext& ctx) {
  auto in = OpenListedFile(root, f, ctx);
  if (!in) return Fail(in.error());
  if (!*in) return std::optional<ManifestEntry>();
  const OpenedFile& file = **in;
  const std::string path = f.relative.generic_string();
  if (tree != nullptr) BACKUP_TRY(AddOpenFileXattrs(file.fd.get(), path, *tree), "archive");
  BACKUP_TRY(tar.Begin(std::string(kArchiveFilesPrefix) + path, file.size, file.mode, file.mtime),
             "archive");
  auto sha = CopyExactly(
      file.fd.get(), file.size, path, [&](std::string_view b) { return tar.Data(b); }, ctx);
  if (!sha) return Fail(sha.error());
  ctx.AddItems(1);
  return std::optional<ManifestEntry>(ManifestEntry{path, file.size, *sha, file.mode});
}

Result<UniqueFd> CreateFile(const fs::path& path, int mode) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     static_cast<mode_t>(mode & 07777)));
  if (fd.get() < 0) return Fail(Error::FromErrno(errno, "create " + path.string()));
  // Whatever the umask: the catalogue's bits, as the plain format's restore gives them.
  if (::fchmod(fd.get(), static_cast<mode_t>(mode & 07777)) != 0) {
    return Fail(Error::FromErrno(errno, "chmod " + path.string()));
  }
  return fd;
}

// Writes the current entry into `fd` (or nowhere when fd < 0), hashing it.
Result<FileDigest> TakeEntry(TarReader& tar, int fd, const std::string& name, JobContext& ctx) {
  Sha256 hash;
  int64_t size = 0;
  Status read = tar.Read([&](std::string_view piece) -> Status {
    if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled while reading " + name));
    hash.Update(piece.data(), piece.size());
    size += std::ssize(piece);
    ctx.AddBytes(std::ssize(piece));
    while (fd >= 0 && !piece.empty()) {
      const ssize_t n = ::write(fd, piece.data(), piece.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Fail(Error::FromErrno(errno, "write " + name));
      piece.remove_prefix(static_cast<size_t>(n));
    }
    return {};
  });
  if (!read) return Fail(read.error());
  return FileDigest{size, hash.HexDigest()};
}

// What one archive read found, entry by entry.
class ArchiveCheck {
 public:
  ArchiveCheck(const BackupRecord& backup, const std::vector<ManifestEntry>& manifest,
               const ArchiveTargets& targets, JobContext& ctx)
      : backup_(backup), manifest_(manifest), targets_(targets), ctx_(ctx) {
    for (const ManifestEntry& e : manifest) expected_[e.path] = &e;
  }

  // Reads every entry. An error is for what is not the backup's fault.
  Status ReadAll(TarReader& tar) {
    for (;;) {
      auto entry = tar.Next();
      if (!entry && entry.error().code() != Code::kDataLoss) return Fail(entry.error());
      if (!entry) {
        problems.push_back(entry.error().message());
        return {};
      }
      if (!*entry) break;
      BACKUP_TRY(Take(tar, **entry), "read archive");
    }
    if (!db_seen_) problems.push_back("the archive holds no database");
    // Archives from before MANIFEST.json existed have none; the catalogue holds the same
    // facts and every entry was checked against it, so such an archive is still whole.
    if (!manifest_seen_) {
      spdlog::info("{} the archive has no {}: checked against the catalogue alone", ctx_.LogTag(),
                   kArchiveManifestEntry);
    }
    for (const auto& [path, e] : expected_) problems.push_back("file " + path + " is missing");
    return {};
  }

  std::vector<std::string> problems;
  Tree tree;  // from MANIFEST.json

 private:
  Status Take(TarReader& tar, const TarEntry& entry) {
    if (entry.name == kArchiveDbEntry && !db_seen_) {
      db_seen_ = true;
      return TakeDatabase(tar);
    }
    if (entry.name == kArchiveManifestEntry && !manifest_seen_) {
      manifest_seen_ = true;
      return TakeManifest(tar, entry);
    }
    const std::string path =
        entry.name.substr(std::min(entry.name.size(), kArchiveFilesPrefix.size()));
    auto it = expected_.find(path);
    if (!entry.name.starts_with(kArchiveFilesPrefix) || it == expected_.end()) {
      problems.push_back("unexpected entry " + Shown(entry.name));
      return Skip(tar, entry.name);
    }
    const ManifestEntry& e = *it->second;
    expected_.erase(it);
    UniqueFd fd;
    if (targets_.files) {
      if (!files_root_) {
        auto root = PinnedDir::Root(*targets_.files);
        if (!root) return Fail(root.error().Context("restore files"));
        files_root_.emplace(std::move(*root), /*create=*/true, kRestoredFolderMode);
      }
      // Through its folder's descriptor: a path of any length, and no link followed.
      auto pinned = files_root_->Pin(e.path);
      if (!pinned) return Fail(pinned.error().Context("restore files"));
      auto created = CreateFile(pinned->path(), e.mode & 0777);  // setuid: with the owner
      if (!created) return Fail(created.error().Context(ShowName(e.path)));
      fd = std::move(*created);
    }
    auto digest = TakeEntry(tar, fd.get(), e.path, ctx_);
    if (!digest) return Fail(digest.error());
    if (digest->size != e.size) {
      problems.push_back("file " + e.path + " has " + std::to_string(digest->size) +
                         " bytes, expected " + std::to_string(e.size));
    } else if (digest->sha256 != e.sha256) {
      problems.push_back("file " + e.path + " SHA-256 differs");
    }
    ctx_.AddItems(1);
    return {};
  }

  Status TakeDatabase(TarReader& tar) {
    auto fd = CreateFile(targets_.db, targets_.db_mode);
    if (!fd) return Fail(fd.error());
    auto digest = TakeEntry(tar, fd->get(), std::string(kArchiveDbEntry), ctx_);
    if (!digest) return Fail(digest.error());
    if (digest->size != backup_.db_bytes) {
      problems.push_back("database has " + std::to_string(digest->size) + " bytes, expected " +
                         std::to_string(backup_.db_bytes));
    } else if (digest->sha256 != backup_.sha256) {
      problems.push_back("database SHA-256 differs from the one recorded at backup (recorded " +
                         backup_.sha256.substr(0, 16) + "..., found " +
                         digest->sha256.substr(0, 16) + "...)");
    }
    return {};
  }

  // MANIFEST.json must say what the catalogue says: this backup, its database, its files.
  Status TakeManifest(TarReader& tar, const TarEntry& entry) {
    const int64_t limit = (int64_t{1} << 20) + std::ssize(manifest_) * 4096;
    if (entry.size > limit) {
      problems.push_back(std::string(kArchiveManifestEntry) + " has " + std::to_string(entry.size) +
                         " bytes, more than its files need");
      return Skip(tar, entry.name);
    }
    std::string json;
    BACKUP_TRY(tar.Read([&](std::string_view piece) -> Status {
      json.append(piece);
      return {};
    }),
               "read the archive's manifest");
    collector::archive::ArchiveManifest m;
    if (!google::protobuf::util::JsonStringToMessage(json, &m).ok()) {
      problems.push_back(std::string(kArchiveManifestEntry) + " is not a manifest");
      return {};
    }
    if (std::string differs = ManifestDiffers(m); !differs.empty()) {
      problems.push_back(std::string(kArchiveManifestEntry) +
                         " differs from the catalogue: " + differs);
    }
    tree = std::move(*m.mutable_tree());
    return {};
  }

  // What `m` says differently from the catalogue, or "".
  std::string ManifestDiffers(const collector::archive::ArchiveManifest& m) const {
    if (m.format() != 1) return "format " + std::to_string(m.format()) + ", not 1";
    if (m.backup_id() != backup_.id) return "backup id " + Shown(m.backup_id());
    const auto& db = m.database();
    if (db.path() != kArchiveDbEntry || db.size() != backup_.db_bytes ||
        db.sha256() != backup_.sha256) {
      return "the database";
    }
    if (m.files_size() != std::ssize(manifest_)) {
      return std::to_string(m.files_size()) + " files, not " + std::to_string(manifest_.size());
    }
    std::map<std::string_view, const ManifestEntry*> catalogued;
    for (const ManifestEntry& e : manifest_) catalogued[e.path] = &e;
    for (const auto& f : m.files()) {
      const std::string& name = f.path_bytes().empty() ? f.path() : f.path_bytes();
      const std::string_view path =
          std::string_view(name).substr(std::min(name.size(), kArchiveFilesPrefix.size()));
      auto it = catalogued.find(path);
      if (!name.starts_with(kArchiveFilesPrefix) || it == catalogued.end() ||
          it->second->size != f.size() || it->second->sha256 != f.sha256() ||
          it->second->mode != f.mode()) {
        return "file " + Shown(name);
      }
      catalogued.erase(it);
    }
    return "";
  }

  Status Skip(TarReader& tar, const std::string& name) {
    auto digest = TakeEntry(tar, -1, name, ctx_);
    if (!digest) return Fail(digest.error());
    return {};
  }

  const BackupRecord& backup_;
  const std::vector<ManifestEntry>& manifest_;
  const ArchiveTargets& targets_;
  JobContext& ctx_;
  std::map<std::string, const ManifestEntry*> expected_;
  std::optional<FolderPins> files_root_;  // below targets_.files, once a file is written
  bool db_seen_ = false;
  bool manifest_seen_ = false;
};

}  // namespace

std::vector<std::string> StoredPaths(const std::vector<ManifestEntry>& files) {
  std::vector<std::string> paths;
  paths.reserve(files.size());
  for (const ManifestEntry& e : files) paths.push_back(e.path);
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::string ArchiveKey(const CollectionName& collection, const std::string& backup_id,
                       bool compressed, bool sealed) {
  return "backups/" + collection.ns + "/" + collection.name + "/" + backup_id + ".tar" +
         (compressed ? ".zst" : "") + (sealed ? ".sealed" : "");
}

std::string ChunkedKey(const CollectionName& collection, const std::string& backup_id,
                       bool compressed, bool sealed) {
  return "backups/" + collection.ns + "/" + collection.name + "/" + backup_id + ".chunks" +
         (compressed ? ".zst" : "") + (sealed ? ".sealed" : "");
}

bool IsChunked(const BackupRecord& backup) {
  const std::string& key = backup.object_key;
  const auto slash = key.rfind('/');
  const std::string_view name =
      std::string_view(key).substr(slash == std::string::npos ? 0 : slash + 1);
  return name.starts_with(backup.id + ".") && name.find(".chunks") != std::string_view::npos;
}

std::string FirstAttemptKey(const BackupRecord& backup) {
  if (IsChunked(backup)) {
    return ChunkedKey(backup.collection, backup.id, backup.compression != "none",
                      !backup.key_id.empty());
  }
  return ArchiveKey(backup.collection, backup.id, backup.compression != "none",
                    !backup.key_id.empty());
}

std::string AttemptKey(const std::string& archive_key, const std::string& backup_id, int attempt) {
  if (attempt <= 1) return archive_key;
  const auto at = archive_key.rfind("/" + backup_id + ".");
  if (at == std::string::npos) return archive_key;
  const size_t end = at + 1 + backup_id.size();
  return archive_key.substr(0, end) + ".a" + std::to_string(attempt) + archive_key.substr(end);
}

Result<ArchiveWritten> WriteArchive(BackupStore& store, const std::string& object_key,
                                    const Compression& compression, const EncryptionKey* key,
                                    const ArchiveSource& source, Skipped& skipped,
                                    JobContext& ctx) {
  auto writer = store.Put(object_key, std::nullopt);
  if (!writer) return Fail(writer.error());
  ObjectWriter& object = **writer;
  auto encoder =
      Encoder::Create(compression, key, [&](std::string_view b) { return object.Write(b); });
  if (!encoder) return Fail(encoder.error());
  auto tar = TarWriter::Create([&](std::string_view b) { return (*encoder)->Write(b); });
  if (!tar) return Fail(tar.error());

  const int64_t mtime = static_cast<int64_t>(std::time(nullptr));
  auto db = ArchiveSnapshot(source, **tar, mtime, ctx);
  if (!db) return Fail(db.error());
  ArchiveWritten out;
  out.db = std::move(*db);
  if (source.files_dir != nullptr && source.files != nullptr) {
    ctx.SetPhase("files");
    for (const SourceFile& f : *source.files) {
      auto entry = ArchiveFile(*source.files_dir, f, source.tree, **tar, ctx);
      if (!entry) return Fail(entry.error());
      if (*entry) {
        out.manifest.push_back(std::move(**entry));
      } else {
        skipped.Add(f.relative.generic_string());
      }
    }
  }
  // Every name one a restore accepts (it reads them back through PinBelow).
  for (const ManifestEntry& e : out.manifest) {
    if (auto ok = CheckRelativeName(e.path); !ok) {
      return Fail(Error::Internal("the backup would not restore (" + ok.error().message() +
                                  "); not recorded"));
    }
  }
  BACKUP_TRY(
      WriteManifest(**tar,
                    MakeManifest(*source.backup, out.db, source.db_mode, out.manifest, skipped,
                                 source.files_dir != nullptr ? source.tree : nullptr),
                    mtime),
      "archive");
  BACKUP_TRY((*tar)->Finish(), "archive");
  BACKUP_TRY((*encoder)->Finish(), "archive");
  ctx.SetPhase("upload");
  auto put = object.Commit();
  if (!put) return Fail(put.error());
  out.put = std::move(*put);
  return out;
}

Result<std::vector<std::string>> ReadArchive(BackupStore& store, const BackupRecord& backup,
                                             const std::vector<ManifestEntry>& manifest,
                                             const KeyRing& keys, const ArchiveTargets& targets,
                                             JobContext& ctx) {
  if (IsChunked(backup)) return ReadChunked(store, backup, manifest, keys, targets, ctx);
  // The archive's plain bytes: the recorded sizes plus tar's headers and padding, with room.
  const int64_t max_plain = backup.size_bytes + (std::ssize(manifest) + 4) * 4096 + (1 << 20);
  auto stream = ObjectStream::Start(
      {&store, backup.object_key, backup.compression, backup.key_id, max_plain}, keys);
  if (!stream) return Fail(stream.error());
  auto tar = TarReader::Open((*stream)->fd());
  ArchiveCheck check(backup, manifest, targets, ctx);
  Status read = tar ? check.ReadAll(**tar) : Status(Fail(tar.error()));
  if (!read && read.error().code() == Code::kDataLoss) {  // not a readable archive
    check.problems.push_back(read.error().message());
    read = {};
  }
  Status whole = read && check.problems.empty() ? (*stream)->Complete() : (*stream)->Finish();
  if (!whole) {
    const Code code = whole.error().code();
    // The object's own fault: that is the finding, whatever the archive reader made of it.
    if (code == Code::kDataLoss) return std::vector<std::string>{whole.error().message()};
    if (code == Code::kNotFound) {
      return std::vector<std::string>{"archive " + store.Locate(backup.object_key) + " is missing"};
    }
    if (code != Code::kCancelled || (read && check.problems.empty())) return Fail(whole.error());
  }
  if (!read) return Fail(read.error());
  if (ctx.cancelled()) return Fail(Error::Cancelled("cancelled while reading the archive"));
  if (targets.files && check.problems.empty()) {
    TreeReport ignored;
    BACKUP_TRY(ApplyTree(*targets.files, check.tree, targets.report ? *targets.report : ignored),
               "restore files");
  }
  return std::move(check.problems);
}

}  // namespace backup
