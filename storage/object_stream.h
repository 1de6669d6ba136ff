// Reads a stored object as a stream of plain bytes on a file descriptor: a thread of its own
// downloads the object (BackupStore::Get), decodes it (Decoder: authenticate, decompress)
// and writes the plain bytes into one end of a socket pair; the caller reads the other end
// (e.g. with TarReader). Memory stays bounded by the socket buffer and one record.
//
// Thread-safety: one caller thread; the producer thread is internal.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "storage/backup_store.h"
#include "storage/codec.h"

namespace backup {

class ObjectStream {
 public:
  struct Source {
    BackupStore* store = nullptr;
    std::string key;
    std::string compression;  // the backup's, from the catalogue
    std::string key_id;       // "" when not encrypted
    int64_t max_plain_bytes = 0;
  };
  static Result<std::unique_ptr<ObjectStream>> Start(Source source, const KeyRing& keys);
  ~ObjectStream();
  ObjectStream(const ObjectStream&) = delete;
  ObjectStream& operator=(const ObjectStream&) = delete;

  // The read end: plain bytes, then end of file once the object is fully read.
  int fd() const { return read_fd_; }
  // For a reader that got everything it wanted: reads what is left (an archive's padding)
  // so the whole object is authenticated, then Finish(). OK only when every byte of the
  // object was read and verified.
  Status Complete();
  // Stops reading (closes the read end) and waits for the producer. Returns what went
  // wrong on its side: kDataLoss for a tampered or truncated object, kCancelled when the
  // reader stopped early, the store's error otherwise. Idempotent.
  Status Finish();

 private:
  ObjectStream() = default;
  void Produce(Source source, std::unique_ptr<Decoder> decoder);

  int read_fd_ = -1, write_fd_ = -1;
  std::thread producer_;
  Status result_;
  bool finished_ = false;
};

}  // namespace backup
