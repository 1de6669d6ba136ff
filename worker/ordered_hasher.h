// The SHA-256 of files written out of order (a chunked restore writes each pack's chunks
// as they arrive, several packs at once), computed while they are written: writers report
// each range they finished, and one thread hashes each file's finished prefix as it grows,
// reading it back from the page cache, and starts the disk writing what it hashed (so the
// fsync that follows has little left). The hash is of the bytes in the file, so it checks
// the reassembly itself, not just the chunks.
//
// Thread-safety: Written() may be called from any thread; Finish() from the owner's.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/sha256.h"

namespace backup {

class OrderedHasher {
 public:
  struct File {
    int fd;        // open for reading while the hasher runs
    int64_t size;  // the size it will have once written
  };
  explicit OrderedHasher(std::vector<File> files);
  ~OrderedHasher();
  OrderedHasher(const OrderedHasher&) = delete;
  OrderedHasher& operator=(const OrderedHasher&) = delete;

  // Bytes [at, at + length) of files[file] are written (ranges never overlap).
  void Written(size_t file, int64_t at, int64_t length);

  // Waits for the hashes of every file: hex digests, "" for a file that was not written
  // whole. With `writers_failed`, stops at once instead (the digests are not wanted).
  Result<std::vector<std::string>> Finish(bool writers_failed);

 private:
  void Run();
  // Hashes [from, until) of `file` into `sha` (and starts its writeback).
  static Status HashRange(const File& file, int64_t from, int64_t until, Sha256& sha,
                          std::string& buf);
  // The end of the written prefix of files_[file] that starts at `next` (mu_ held).
  int64_t Advance(size_t file, int64_t next);

  const std::vector<File> files_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::map<int64_t, int64_t>> written_;  // per file: start -> end; guarded by mu_
  bool no_more_ = false;                             // guarded by mu_
  bool stop_ = false;                                // guarded by mu_
  std::vector<std::string> digests_;                 // written by the thread until joined
  Status error_;                                     // written by the thread until joined
  std::thread thread_;
};

}  // namespace backup
