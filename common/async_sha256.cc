#include "common/async_sha256.h"

namespace backup {

AsyncSha256::AsyncSha256() : thread_([this] { Run(); }) {}

AsyncSha256::~AsyncSha256() {
  if (thread_.joinable()) (void)Finish();
}

void AsyncSha256::Add(Block block) {
  std::unique_lock lock(mu_);
  room_.wait(lock, [&] { return std::ssize(queue_) < kDepth; });
  queue_.push_back(std::move(block));
  ready_.notify_one();
}

std::string AsyncSha256::Finish() {
  {
    std::lock_guard lock(mu_);
    done_ = true;
  }
  ready_.notify_one();
  thread_.join();
  return sha_.HexDigest();
}

void AsyncSha256::Run() {
  for (;;) {
    Block block;
    {
      std::unique_lock lock(mu_);
      ready_.wait(lock, [&] { return done_ || !queue_.empty(); });
      if (queue_.empty()) return;
      block = std::move(queue_.front());
      queue_.pop_front();
    }
    room_.notify_one();
    sha_.Update(block->data(), block->size());
  }
}

}  // namespace backup
