// Where backups live: a store of named objects (the local folder, S3-compatible object
// storage). Jobs write a backup as objects and read them back; they never see a path or
// a URL of the store's own, so every store gives the same guarantees:
//   - An object becomes visible under its key only when its writer's Commit() returns OK,
//     after the store has confirmed the whole object (its size and checksum). A writer
//     that is aborted, fails or is destroyed without Commit() leaves nothing behind (no
//     partial file, no incomplete multipart upload).
//   - Keys are checked (CheckObjectKey) before any store touches them: relative, made of
//     the name alphabet, no "." or ".." component, so a key can never reach outside the
//     store's folder or prefix, whoever made it.
//   - Reads are streamed, in pieces of bounded size, optionally of a byte range.
//
// Thread-safety: a BackupStore may be used from several threads at once; an ObjectWriter
// belongs to one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace backup {

struct ObjectInfo {
  std::string key;
  int64_t size = 0;
  // What the store reports as the object's checksum (S3: the ETag; local: empty).
  std::string etag;
};

class ObjectWriter {
 public:
  virtual ~ObjectWriter() = default;
  // Appends bytes. Fails (and the object is abandoned) when the store refuses them.
  virtual Status Write(std::string_view bytes) = 0;
  // Makes the object visible under its key once the store confirmed every byte.
  virtual Result<ObjectInfo> Commit() = 0;
  // Abandons the object and removes whatever was uploaded of it. Idempotent.
  virtual void Abort() = 0;
};

// Receives consecutive pieces of an object; returns false to stop (the read then fails
// with kCancelled).
using ByteSink = std::function<bool(std::string_view piece)>;

class BackupStore {
 public:
  virtual ~BackupStore() = default;

  // "local" or "s3": the backup row's storage_type.
  virtual std::string_view type() const = 0;
  // True when every node of a fleet reaches the same objects (an object store); a local
  // folder is one node's own.
  bool shared() const { return type() != "local"; }
  // Where `key` lives, for the backup row's storage_path and for messages ("/var/b/x",
  // "s3://bucket/prefix/x"). Never carries a credential.
  virtual std::string Locate(std::string_view key) const = 0;

  // Starts a new object under `key`. `size`, when known, lets the store pick how to
  // upload it; more or fewer bytes than announced fail the commit.
  virtual Result<std::unique_ptr<ObjectWriter>> Put(std::string_view key,
                                                    std::optional<int64_t> size) = 0;
  // Streams `length` bytes of `key` from `offset` (length < 0: to the end) into `sink`.
  // kNotFound when there is no such object; kDataLoss when it ends early.
  virtual Status Get(std::string_view key, int64_t offset, int64_t length,
                     const ByteSink& sink) = 0;
  // The object's size and checksum, or nullopt when there is none.
  virtual Result<std::optional<ObjectInfo>> Stat(std::string_view key) = 0;
  // Every object whose key starts with `prefix` (which must be "" or end in "/"), in key
  // order.
  virtual Result<std::vector<ObjectInfo>> List(std::string_view prefix) = 0;
  // Removes the object; removing one that does not exist is not an error.
  virtual Status Delete(std::string_view key) = 0;
  // Removes what a writer of `key` that died before Commit() or Abort() (a killed process)
  // left behind: a partial file, an incomplete multipart upload. Never the object itself.
  virtual Status AbortIncomplete(std::string_view key) = 0;

  // Writes, reads back and removes a small probe object under `prefix`: OK when the
  // store is reachable, the credentials work and it may be written.
  Status CheckWritable(std::string_view prefix);
};

// OK when `key` may name an object: 1 to 1024 bytes, components separated by "/", each of
// [A-Za-z0-9._-] and not "." or "..", no empty component, no leading "/". kInvalidArgument
// otherwise. Every store checks every key it is given with this.
Status CheckObjectKey(std::string_view key);

// Reads a whole object into memory, refusing one larger than `max_bytes`.
Result<std::string> ReadSmallObject(BackupStore& store, std::string_view key, int64_t max_bytes);

}  // namespace backup
