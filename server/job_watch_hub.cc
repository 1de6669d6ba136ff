#include "server/job_watch_hub.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace backup {
JobWatchHub::JobWatchHub(JobQueue& jobs, WatchHubOptions options) : jobs_(jobs), options_(options) {
  thread_ = std::thread([this] { Loop(); });
}

JobWatchHub::~JobWatchHub() { Stop(); }

Status JobWatchHub::Reserve() {
  std::lock_guard lock(mu_);
  if (stopping_) return Fail(Error::Unavailable("the server is stopping"));
  if (reserved_ >= options_.max_followers) {
    return Fail(Error::ResourceExhausted(
        std::to_string(reserved_) +
        " WatchJob streams and waiting calls are open, the most this server takes "
        "(backupd --max-watchers); poll with GetJob, or call again later"));
  }
  ++reserved_;
  return {};
}

void JobWatchHub::Release() {
  std::lock_guard lock(mu_);
  --reserved_;
}

int JobWatchHub::followers() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(entries_.size());
}

Status JobWatchHub::Follow(const std::shared_ptr<JobFollower>& follower, const std::string& job_id,
                           Deadline deadline) {
  for (;;) {
    // A change after `seen` either reaches the hub's next refresh (the entry is in by
    // then) or happened before the insert below, which then reads the job again.
    const uint64_t seen = jobs_.ChangeVersion();
    auto job = jobs_.GetJob(job_id);
    if (!job) {
      Release();
      return Fail(job.error());
    }
    if (!follower->OnJob(*job)) {
      Release();
      return {};
    }
    std::unique_lock lock(mu_);
    if (stopping_) {
      --reserved_;
      lock.unlock();
      follower->OnEnd(Error::Unavailable("the server is stopping"));
      return {};
    }
    if (follower->Closed()) {
      --reserved_;
      return {};
    }
    if (jobs_.ChangeVersion() != seen) continue;
    auto [group, fresh] = groups_.try_emplace(job_id);
    if (fresh) group->second.last = JobMark::Of(*job);
    group->second.followers.insert(follower.get());
    entries_[follower.get()] = Entry{follower, job_id, deadline};
    deadlines_.insert({deadline, follower.get()});
    return {};
  }
}

std::shared_ptr<JobFollower> JobWatchHub::EraseLocked(const JobFollower* f) {
  auto entry = entries_.find(f);
  if (entry == entries_.end()) return nullptr;
  auto follower = std::move(entry->second.follower);
  if (auto group = groups_.find(entry->second.job_id); group != groups_.end()) {
    group->second.followers.erase(f);
    if (group->second.followers.empty()) groups_.erase(group);
  }
  deadlines_.erase({entry->second.deadline, f});
  entries_.erase(entry);
  --reserved_;
  return follower;
}

void JobWatchHub::Forget(const JobFollower* follower) {
  std::shared_ptr<JobFollower> gone;  // released after the lock
  std::lock_guard lock(mu_);
  gone = EraseLocked(follower);
}

void JobWatchHub::Stop() {
  std::vector<std::shared_ptr<JobFollower>> ended;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& [f, entry] : entries_) ended.push_back(std::move(entry.follower));
    reserved_ -= static_cast<int>(entries_.size());
    entries_.clear();
    groups_.clear();
    deadlines_.clear();
  }
  for (const auto& f : ended) f->OnEnd(Error::Unavailable("the server is stopping"));
  jobs_.NotifyChange();  // wakes the loop
  if (thread_.joinable()) thread_.join();
}

void JobWatchHub::Loop() {
  uint64_t seen = jobs_.ChangeVersion();
  bool stale = false;  // the last refresh failed: try again at the next tick
  for (;;) {
    int64_t wait_ms = options_.tick_ms;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      if (!deadlines_.empty()) {
        auto until = std::chrono::duration_cast<std::chrono::milliseconds>(
                         deadlines_.begin()->first - std::chrono::system_clock::now())
                         .count() -
                     options_.deadline_margin_ms;
        wait_ms = std::clamp<int64_t>(until, 1, wait_ms);
      }
    }
    jobs_.WaitForChange(seen, wait_ms);
    const uint64_t now = jobs_.ChangeVersion();
    if (now != seen || stale) {
      seen = now;
      stale = !Refresh();
    }
    ExpireDeadlines();
  }
}

bool JobWatchHub::Refresh() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    ids.reserve(groups_.size());
    for (const auto& [id, group] : groups_) ids.push_back(id);
  }
  if (ids.empty()) return true;
  auto read = jobs_.GetJobs(ids);
  if (!read) {
    spdlog::warn("watch: reading {} followed jobs: {}", ids.size(), read.error().message());
    return false;
  }
  std::vector<std::shared_ptr<JobFollower>> vanished;
  const Delivery delivery = Route(ids, *read, vanished);
  for (const auto& f : vanished) f->OnEnd(Error::NotFound("the job was pruned"));
  Deliver(delivery);
  return true;
}

JobWatchHub::Delivery JobWatchHub::Route(const std::vector<std::string>& ids,
                                         const std::vector<Job>& read,
                                         std::vector<std::shared_ptr<JobFollower>>& vanished) {
  std::unordered_map<std::string, const Job*> by_id;
  for (const Job& j : read) by_id[j.id] = &j;
  Delivery delivery;
  std::lock_guard lock(mu_);
  for (const std::string& id : ids) {
    auto group = groups_.find(id);
    if (group == groups_.end()) continue;  // its followers left meanwhile
    auto job = by_id.find(id);
    if (job == by_id.end()) {
      for (const JobFollower* f : std::set(group->second.followers)) {
        vanished.push_back(EraseLocked(f));
      }
      continue;
    }
    const JobMark mark = JobMark::Of(*job->second);
    if (group->second.last == mark) continue;
    group->second.last = mark;
    for (const JobFollower* f : group->second.followers) {
      delivery.emplace_back(entries_.at(f).follower, job->second);
    }
  }
  return delivery;
}

void JobWatchHub::Deliver(const Delivery& delivery) {
  for (const auto& [follower, job] : delivery) {
    if (follower->OnJob(*job)) continue;
    Forget(follower.get());
  }
}

void JobWatchHub::ExpireDeadlines() {
  std::vector<std::shared_ptr<JobFollower>> expired;
  {
    std::lock_guard lock(mu_);
    const auto now =
        std::chrono::system_clock::now() + std::chrono::milliseconds(options_.deadline_margin_ms);
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      expired.push_back(EraseLocked(deadlines_.begin()->second));
    }
  }
  for (const auto& f : expired) {
    f->OnEnd(Error::DeadlineExceeded("the call's deadline came before the job ended"));
  }
}

}  // namespace backup
