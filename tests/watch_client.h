// Many WatchJob streams from one client without a thread each: a ClientReadReactor per
// stream on gRPC's callback API, counting messages and keeping the last one and the final
// status. Used by the watch tests and backup-bench's watch scenario.
// Thread-safety: the reactor's callbacks run on gRPC's threads; read it through its
// accessors, which lock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "backup_jobs.grpc.pb.h"

namespace backup::testing {

class WatchReader final : public grpc::ClientReadReactor<collector::Job> {
 public:
  // Starts WatchJob(job_id) on `stub`; `prepare` may add a deadline or metadata.
  WatchReader(collector::BackupJobs::Stub& stub, const std::string& job_id,
              const std::function<void(grpc::ClientContext&)>& prepare = {}) {
    request_.set_job_id(job_id);
    if (prepare) prepare(context_);
    stub.async()->WatchJob(&context_, &request_, this);
    StartRead(&incoming_);
    StartCall();
  }

  ~WatchReader() override {  // the stream must end before its context and messages go
    context_.TryCancel();
    AwaitEnd(std::chrono::seconds(30));
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended; OnDone follows
    {
      std::lock_guard lock(mu_);
      last_ = incoming_;
      ++messages_;
    }
    cv_.notify_all();
    StartRead(&incoming_);
  }
  void OnDone(const grpc::Status& status) override {
    {
      std::lock_guard lock(mu_);
      status_ = status;
    }
    cv_.notify_all();
  }

  void Cancel() { context_.TryCancel(); }

  // Waits until at least `n` messages came or the stream ended; true if they came.
  bool AwaitMessages(int n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return messages_ >= n || status_; }) && messages_ >= n;
  }
  // Waits for the stream's end; its status, or none at the timeout.
  std::optional<grpc::Status> AwaitEnd(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return status_.has_value(); });
    return status_;
  }
  int messages() const {
    std::lock_guard lock(mu_);
    return messages_;
  }
  collector::Job last() const {
    std::lock_guard lock(mu_);
    return last_;
  }

 private:
  grpc::ClientContext context_;
  collector::WatchJobRequest request_;
  collector::Job incoming_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  collector::Job last_;                 // guarded by mu_
  int messages_ = 0;                    // guarded by mu_
  std::optional<grpc::Status> status_;  // guarded by mu_
};

}  // namespace backup::testing
