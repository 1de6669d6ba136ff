#include "worker/worker_pool.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>

#include <spdlog/spdlog.h>
#include <asio/post.hpp>

#include "common/ids.h"
#include "worker/retry_policy.h"

namespace backup {
namespace {

std::string DefaultWorkerId() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(::getpid()) + "-" + RandomHex(3);
}

}  // namespace

WorkerPool::WorkerPool(JobQueue& queue, WorkerPoolOptions options)
    : queue_(queue), options_(std::move(options)) {
  if (options_.worker_id.empty()) options_.worker_id = DefaultWorkerId();
}

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::SetHandler(JobKind kind, std::unique_ptr<JobHandler> handler) {
  handlers_[kind] = std::move(handler);
}

void WorkerPool::Start() {
  if (options_.threads <= 0 || pool_) return;
  pool_ = std::make_unique<asio::thread_pool>(options_.threads);
  free_slots_ = options_.threads;
  producer_ = std::thread([this] { ProduceLoop(); });
  monitor_ = std::thread([this] { MonitorLoop(); });
  spdlog::info("worker {} started with {} threads, lease {} ms", options_.worker_id,
               options_.threads, options_.lease_ms);
}

void WorkerPool::Stop() {
  if (!pool_ || stopping_.exchange(true)) return;
  queue_.NotifyChange();  // wakes the producer so it sees stopping_
  if (producer_.joinable()) producer_.join();
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.shutdown_grace_ms);
  while (free_slots_.load() < options_.threads && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  {
    std::lock_guard lock(mu_);
    for (auto& [id, ctx] : running_) ctx->RequestStop(StopReason::kShutdown);
  }
  pool_->join();
  if (monitor_.joinable()) monitor_.join();
  spdlog::info("worker {} stopped", options_.worker_id);
}

void WorkerPool::ProduceLoop() {
  while (!stopping_) {
    uint64_t seen = queue_.ChangeVersion();
    int free = free_slots_.load();
    if (free > 0) {
      auto claimed = queue_.Claim(options_.worker_id, free, options_.lease_ms);
      if (!claimed) {
        spdlog::warn("worker {}: {}", options_.worker_id, claimed.error().message());
      } else {
        for (Job& job : *claimed) Dispatch(std::move(job));
        if (!claimed->empty()) continue;  // there may be more
      }
    }
    queue_.WaitForChange(seen, options_.poll_ms);
  }
}

void WorkerPool::Dispatch(Job job) {
  Lease lease{job.id, options_.worker_id, job.attempt};
  auto ctx = std::make_shared<JobContext>(std::move(job), std::move(lease));
  {
    std::lock_guard lock(mu_);
    running_[ctx->job().id] = ctx;
  }
  --free_slots_;
  asio::post(*pool_, [this, ctx] { RunJob(ctx); });
}

void WorkerPool::MonitorLoop() {
  while (!stopping_ || free_slots_.load() < options_.threads) {
    std::vector<std::shared_ptr<JobContext>> running;
    {
      std::lock_guard lock(mu_);
      for (auto& [id, ctx] : running_) running.push_back(ctx);
    }
    for (auto& ctx : running) {
      if (ctx->recorded()) continue;  // finished and recorded; only cleaning up
      auto status = queue_.Heartbeat(ctx->lease(), ctx->Snapshot(), options_.lease_ms);
      if (!status && status.error().code() == Code::kAborted) {
        spdlog::warn("{} lease lost; stopping", ctx->LogTag());
        ctx->RequestStop(StopReason::kLeaseLost);
      } else if (!status) {
        spdlog::warn("{} heartbeat failed: {}", ctx->LogTag(), status.error().message());
      } else if (status->cancel_requested) {
        ctx->RequestStop(StopReason::kCancelRequested);
      }
    }
    Housekeep(queue_.clock().NowMs());
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.heartbeat_ms));
  }
}

void WorkerPool::Housekeep(int64_t now) {
  if (now - last_rescue_ >= std::min<int64_t>(options_.lease_ms / 4 + 1, 5'000)) {
    last_rescue_ = now;
    if (auto n = queue_.RescueExpired(); !n) {
      spdlog::warn("worker {}: {}", options_.worker_id, n.error().message());
    } else if (*n > 0) {
      spdlog::info("worker {} rescued {} job(s) with expired leases", options_.worker_id, *n);
      if (metrics_ != nullptr) metrics_->Rescued(*n);
    }
  }
  if (now - last_prune_ >= options_.prune_interval_ms) {
    last_prune_ = now;
    if (auto n = queue_.PruneFinishedJobs(now - options_.job_retention_ms); !n) {
      spdlog::warn("worker {}: {}", options_.worker_id, n.error().message());
    } else if (*n > 0) {
      spdlog::info("worker {} pruned {} finished job(s)", options_.worker_id, *n);
    }
  }
  const int64_t sweep_every = sweep_undecided_ ? 1'000 : options_.sweep_interval_ms;
  if (sweep_ && now - last_sweep_ >= sweep_every) {
    last_sweep_ = now;
    sweep_undecided_ = !sweep_();
  }
}

void WorkerPool::RunJob(const std::shared_ptr<JobContext>& ctx) {
  spdlog::info("{} started on worker {}", ctx->LogTag(), options_.worker_id);
  const JobKind kind = ctx->job().kind;
  const auto started = std::chrono::steady_clock::now();
  if (metrics_ != nullptr) metrics_->Started(kind);
  auto handler = handlers_.find(kind);
  Status outcome = handler == handlers_.end()
                       ? Fail(Error::Unavailable("this worker has no handler for " +
                                                 std::string(ToString(kind)) + " jobs"))
                       : handler->second->Run(*ctx);
  const std::string_view ended = RecordOutcome(*ctx, outcome);
  if (metrics_ != nullptr) {
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
    metrics_->Ended(kind, ended, took.count(), ctx->Snapshot().bytes_done);
    if (!outcome) metrics_->AttemptError(kind, outcome.error().code());
  }
  {
    std::lock_guard lock(mu_);
    running_.erase(ctx->job().id);
  }
  ++free_slots_;
  queue_.NotifyChange();  // wakes the producer: a slot is free
}

std::string_view WorkerPool::RecordOutcome(JobContext& ctx, const Status& outcome) {
  if (outcome) return "succeeded";  // the handler recorded its success itself
  const Error& error = outcome.error();
  Status recorded;
  std::string_view ended;
  switch (ctx.stop_reason()) {
    case StopReason::kLeaseLost:
      spdlog::warn("{} abandoned: lease lost ({})", ctx.LogTag(), error.message());
      return "lease_lost";
    case StopReason::kShutdown:
      spdlog::info("{} interrupted by shutdown; given back to the queue", ctx.LogTag());
      recorded = queue_.ReleaseJob(ctx.lease());
      ended = "released";
      break;
    case StopReason::kCancelRequested:
      spdlog::info("{} cancelled", ctx.LogTag());
      recorded = queue_.FinishJob(ctx.lease(), JobState::kCancelled,
                                  Error::Cancelled("cancelled by request"));
      ended = "cancelled";
      break;
    case StopReason::kNone:
      if (error.code() == Code::kAborted) {
        spdlog::warn("{} abandoned: {}", ctx.LogTag(), error.message());
        return "lease_lost";
      }
      if (IsTransient(error) && ctx.lease().attempt < ctx.job().max_attempts) {
        thread_local std::mt19937_64 rng{std::random_device{}()};
        int64_t delay =
            RetryDelayMs(ctx.lease().attempt, options_.retry_base_ms, options_.retry_max_ms, rng());
        spdlog::warn("{} failed transiently, retry in {} ms: {}", ctx.LogTag(), delay,
                     error.message());
        recorded = queue_.RetryJob(ctx.lease(), error, queue_.clock().NowMs() + delay);
        ended = "retried";
      } else {
        spdlog::error("{} failed: {} {}", ctx.LogTag(), CodeName(error.code()), error.message());
        recorded = queue_.FinishJob(ctx.lease(), JobState::kFailed, error);
        ended = "failed";
      }
      break;
  }
  if (!recorded)
    spdlog::error("{} outcome not recorded: {}", ctx.LogTag(), recorded.error().message());
  return ended;
}

}  // namespace backup
