#include "worker/job_context.h"

#include <algorithm>

namespace backup {

std::string JobContext::LogTag() const {
  return "job=" + job_.id + " collection=" + job_.collection.Key() +
         (job_.backup_id.empty() ? "" : " backup=" + job_.backup_id) +
         " attempt=" + std::to_string(lease_.attempt);
}

void JobContext::SetPhase(const std::string& phase) {
  std::lock_guard lock(mu_);
  progress_.phase = phase;
}

void JobContext::SetTotals(int64_t bytes_total, int64_t items_total) {
  std::lock_guard lock(mu_);
  progress_.bytes_total = bytes_total;
  progress_.items_total = items_total;
}

void JobContext::AddBytes(int64_t bytes) {
  std::lock_guard lock(mu_);
  progress_.bytes_done += bytes;
}

void JobContext::SetBytesDone(int64_t bytes) {
  std::lock_guard lock(mu_);
  progress_.bytes_done = bytes;
}

void JobContext::AddItems(int64_t items) {
  std::lock_guard lock(mu_);
  progress_.items_done += items;
}

void JobContext::SetBytesProbe(std::function<int64_t()> probe) {
  std::lock_guard lock(mu_);
  probe_ = std::move(probe);
}

Progress JobContext::Snapshot() {
  std::lock_guard lock(mu_);
  Progress p = progress_;
  if (probe_) p.bytes_done += probe_();
  // Estimates (a growing file against the source's used pages) may overshoot; the
  // reported figures stay monotonic and within their totals.
  p.bytes_total = std::max(p.bytes_total, reported_.bytes_total);
  p.bytes_done =
      std::clamp(p.bytes_done, reported_.bytes_done, std::max(p.bytes_total, reported_.bytes_done));
  p.items_done = std::max(p.items_done, reported_.items_done);
  reported_ = p;
  return p;
}

void JobContext::RequestStop(StopReason reason) {
  StopReason expected = StopReason::kNone;
  stop_.compare_exchange_strong(expected, reason);
}

}  // namespace backup
