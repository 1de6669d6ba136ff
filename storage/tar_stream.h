// A backup's archive: one pax tar stream (libarchive) holding the database snapshot and the
// collection's files, written as it is produced and read as it arrives.
//
// TarWriter writes regular-file entries to a ByteOut. TarReader reads one from a file
// descriptor (a socket fed by ObjectStream) and hands out only regular files: any other
// entry type fails with kDataLoss. Entry names are never used as paths by this code's
// callers: they are compared with the names the catalogue expects.
//
// Thread-safety: each object belongs to one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "storage/codec.h"

struct archive;

namespace backup {

class TarWriter {
 public:
  static Result<std::unique_ptr<TarWriter>> Create(ByteOut out);
  ~TarWriter();
  // Starts a regular file of exactly `size` bytes, written with Data().
  Status Begin(const std::string& name, int64_t size, int mode, int64_t mtime);
  Status Data(std::string_view bytes);
  // Ends the archive (its end-of-archive blocks); the ByteOut has seen every byte.
  Status Finish();

 private:
  explicit TarWriter(ByteOut out) : out_(std::move(out)) {}
  static long OnWrite(struct archive*, void* self, const void* data, size_t n);
  Error Failure(const std::string& what) const;

  ByteOut out_;
  struct archive* a_ = nullptr;
  std::optional<Error> out_error_;  // what the ByteOut said when it refused bytes
};

struct TarEntry {
  std::string name;
  int64_t size = 0;
  int mode = 0;
};

class TarReader {
 public:
  // Reads from `fd` (not closed by the reader).
  static Result<std::unique_ptr<TarReader>> Open(int fd);
  ~TarReader();
  // The next entry, or nullopt at the end of the archive.
  Result<std::optional<TarEntry>> Next();
  // The current entry's bytes.
  Status Read(const ByteOut& out);

 private:
  TarReader() = default;
  struct archive* a_ = nullptr;
};

}  // namespace backup
