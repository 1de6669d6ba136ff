// SHA-256 of a stream handed over block by block and hashed on a thread of its own, so the
// thread that reads and writes the bytes does not also hash them (on two cores the hash
// then costs a backup little time: BENCHMARKS.md section 12). At most kDepth blocks wait;
// Add() blocks while they do.
//
// Thread-safety: Add() and Finish() from one thread; the hashing happens on the object's.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/sha256.h"

namespace backup {

class AsyncSha256 {
 public:
  using Block = std::shared_ptr<const std::string>;
  AsyncSha256();
  ~AsyncSha256();  // hashes what waits, and joins
  AsyncSha256(const AsyncSha256&) = delete;
  AsyncSha256& operator=(const AsyncSha256&) = delete;

  void Add(Block block);
  // The hex digest of every block added; no Add() after.
  std::string Finish();

 private:
  static constexpr int kDepth = 4;
  void Run();

  Sha256 sha_;  // the thread's until it is joined
  std::mutex mu_;
  std::condition_variable ready_, room_;
  std::deque<Block> queue_;  // guarded by mu_
  bool done_ = false;        // guarded by mu_
  std::thread thread_;
};

}  // namespace backup
