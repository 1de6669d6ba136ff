#include "worker/policy_scheduler.h"

#include <algorithm>
#include <optional>

#include <spdlog/spdlog.h>

#include "backup.pb.h"
#include "common/ids.h"
#include "common/policy_keys.h"
#include "common/wire.h"
#include "control/node_routing.h"
#include "policy/schedule.h"
#include "worker/backup_enqueue.h"
#include "worker/policy_retention.h"

namespace backup {
namespace {

using std::chrono::seconds;
using std::chrono::sys_seconds;

int64_t UnixSeconds(sys_seconds t) { return t.time_since_epoch().count(); }

// The slot of `policy` to run at `now`, if one is due: the latest slot past last_slot
// whose jittered time has come.
std::optional<sys_seconds> DueSlot(const Schedule& schedule, const PolicyRecord& policy,
                                   sys_seconds now) {
  auto slot = schedule.LatestAtOrBefore(now);
  for (int i = 0; i < 2 && slot && UnixSeconds(*slot) > policy.last_slot; ++i) {
    if (JitteredSlot(policy.name, *slot, policy.jitter_s) <= now) return slot;
    slot = schedule.LatestAtOrBefore(*slot - seconds(1));  // its jitter has not passed yet
  }
  return std::nullopt;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

sys_seconds JitteredSlot(const std::string& name, sys_seconds slot, int64_t jitter_s) {
  if (jitter_s <= 0) return slot;
  uint64_t hash = 14695981039346656037ULL;  // FNV-1a, 64 bit
  const std::string text = name + "/" + std::to_string(UnixSeconds(slot));
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return slot + seconds(static_cast<int64_t>(hash % static_cast<uint64_t>(jitter_s)));
}

PolicyScheduler::PolicyScheduler(PolicyStore& policies, Catalog& catalog, JobQueue& jobs,
                                 const StoreSet& stores,
                                 std::vector<std::filesystem::path> backup_roots,
                                 PolicySchedulerOptions options)
    : policies_(policies),
      catalog_(catalog),
      jobs_(jobs),
      stores_(stores),
      backup_roots_(std::move(backup_roots)),
      options_(std::move(options)) {}

PolicyScheduler::~PolicyScheduler() { Stop(); }

void PolicyScheduler::Start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stop_) {
      lock.unlock();
      Tick(std::chrono::time_point_cast<seconds>(std::chrono::system_clock::now()));
      lock.lock();
      cv_.wait_for(lock, std::chrono::milliseconds(options_.tick_ms), [this] { return stop_; });
    }
  });
}

void PolicyScheduler::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PolicyScheduler::Tick(sys_seconds now) {
  auto policies = policies_.ListPolicies({});
  if (!policies) {
    spdlog::warn("scheduler: {}", policies.error().message());
    return;
  }
  for (const PolicyRecord& policy : *policies) {
    if (policy.paused) continue;
    auto schedule = Schedule::Parse(policy.schedule);
    if (!schedule) {
      spdlog::warn("policy={} {}", policy.name, schedule.error().message());
      continue;
    }
    if (auto slot = DueSlot(*schedule, policy, now)) RunSlot(policy, *slot);
  }
  FollowUp();
}

Result<std::vector<CollectionRecord>> SelectCollections(Catalog& catalog,
                                                        const PolicyRecord& policy) {
  std::vector<CollectionRecord> names;
  if (!policy.collection.empty()) {
    auto c = catalog.GetCollection({policy.ns, policy.collection});
    if (!c && c.error().code() == Code::kNotFound) return names;
    if (!c) return Fail(c.error());
    for (const auto& [k, v] : policy.labels) {
      auto it = c->labels.find(k);
      if (it == c->labels.end() || it->second != v) return names;
    }
    names.push_back(std::move(*c));
    return names;
  }
  DiscoverQuery query{.ns = policy.ns, .labels = policy.labels, .page_size = 1000};
  do {
    auto page = catalog.Discover(query);
    if (!page) return Fail(page.error());
    for (CollectionRecord& c : page->collections) names.push_back(std::move(c));
    query.page_token = page->next_page_token;
  } while (!query.page_token.empty());
  return names;
}

Status PolicyScheduler::QueueBackup(const PolicyRecord& policy, sys_seconds slot,
                                    const CollectionRecord& record) {
  const CollectionName& collection = record.name;
  const std::string key = PolicyJobKey(policy.name, UnixSeconds(slot), collection);
  auto existing = jobs_.FindByIdempotencyKey(key);
  if (!existing) return Fail(existing.error());
  if (*existing) return {};  // another scheduler queued it
  collector::BackupCollectionRequest request;
  *request.mutable_collection() = ToProto(collection);
  request.set_include_files(policy.include_files);
  request.set_store(policy.store);
  request.set_idempotency_key(key);
  (*request.mutable_metadata())[std::string(kPolicyMetadataKey)] = policy.name;
  (*request.mutable_metadata())[std::string(kSlotMetadataKey)] = std::to_string(UnixSeconds(slot));
  const int64_t now_ms = NowMs();
  const std::string backup_id = NewBackupId(collection.ns, collection.name, now_ms * 1'000'000);
  BackupRecord backup;
  BACKUP_TRY(PlaceInStore(stores_, collection, backup_id, policy.store, backup), "place backup");
  auto job = EnqueueBackupJob(catalog_, stores_, request, record,
                              {.backup_id = backup_id,
                               .max_attempts = options_.max_attempts,
                               .idempotency_key = key,
                               .submitted_by = "policy:" + policy.name,
                               .now_ms = now_ms},
                              backup);
  if (!job && job.error().code() == Code::kAlreadyExists) return {};  // another one won
  if (!job) return Fail(job.error());
  followed_[job->id] = {.policy = policy.name, .key = key};
  return {};
}

void PolicyScheduler::RunSlot(const PolicyRecord& policy, sys_seconds slot) {
  auto collections = SelectCollections(catalog_, policy);
  if (!collections) {
    spdlog::warn("policy={} selecting collections: {}", policy.name, collections.error().message());
    return;
  }
  for (const CollectionRecord& c : *collections) {
    if (auto queued = QueueBackup(policy, slot, c); !queued) {
      spdlog::warn("policy={} collection={} slot={}: {}", policy.name, c.name.Key(),
                   UnixSeconds(slot), queued.error().message());
      return;  // the slot stays due; the next tick tries the rest again
    }
  }
  auto advanced = policies_.AdvancePolicySlot(policy.name, UnixSeconds(slot));
  if (!advanced) {
    spdlog::warn("policy={} slot={}: {}", policy.name, UnixSeconds(slot),
                 advanced.error().message());
    return;
  }
  if (!*advanced) return;  // another process closed the slot
  spdlog::info("policy={} slot={} ran: {} collections", policy.name, UnixSeconds(slot),
               collections->size());
  // Catch up on retention a process killed before it followed its jobs up did not apply.
  for (const CollectionRecord& c : *collections) Retain(policy, c.name);
}

void PolicyScheduler::FollowUp() {
  if (followed_.empty()) return;
  std::vector<std::string> ids;
  ids.reserve(followed_.size());
  for (const auto& [id, followed] : followed_) ids.push_back(id);
  auto jobs = jobs_.GetJobs(ids);
  if (!jobs) {
    spdlog::warn("scheduler: following its jobs: {}", jobs.error().message());
    return;
  }
  for (const Job& job : *jobs) {
    if (!IsTerminal(job.state)) continue;
    auto it = followed_.find(job.id);
    if (it->second.verify) {
      if (auto policy = policies_.GetPolicy(it->second.policy); policy) {
        Retain(*policy, job.collection);
      }
    } else if (job.state == JobState::kSucceeded) {
      AfterSuccess(job, it->second);
    }
    followed_.erase(it);
  }
  // Jobs pruned meanwhile are no longer reported: forget them too.
  if (jobs->size() < ids.size()) {
    std::erase_if(followed_, [&](const auto& entry) {
      return std::none_of(jobs->begin(), jobs->end(),
                          [&](const Job& j) { return j.id == entry.first; });
    });
  }
}

void PolicyScheduler::AfterSuccess(const Job& job, const Followed& followed) {
  auto policy = policies_.GetPolicy(followed.policy);
  if (!policy) return;  // deleted meanwhile
  if (policy->verify) {
    collector::VerifyBackupRequest request;
    request.set_backup_id(job.backup_id);
    request.set_idempotency_key(PolicyVerifyKey(followed.key));
    Job verify;
    verify.id = NewJobId();
    verify.kind = JobKind::kVerify;
    verify.collection = job.collection;
    verify.backup_id = job.backup_id;
    verify.params = request.SerializeAsString();
    verify.max_attempts = options_.max_attempts;
    verify.created_at_ms = NowMs();
    verify.idempotency_key = request.idempotency_key();
    verify.submitted_by = "policy:" + policy->name;
    auto backup = catalog_.GetBackup(job.backup_id);
    if (!backup) {
      spdlog::warn("job={} collection={} policy={} verify not queued: {}", job.id,
                   job.collection.Key(), policy->name, backup.error().message());
      Retain(*policy, job.collection);
      return;
    }
    verify.node = ReaderJobNode(*backup);
    if (auto queued = catalog_.EnqueueBackupReader(verify); queued) {
      spdlog::info("job={} collection={} backup={} verify queued by policy {}", verify.id,
                   job.collection.Key(), job.backup_id, policy->name);
      followed_[verify.id] = {.policy = policy->name, .key = followed.key, .verify = true};
    } else if (queued.error().code() != Code::kAlreadyExists) {
      spdlog::warn("job={} collection={} policy={} verify not queued: {}", job.id,
                   job.collection.Key(), policy->name, queued.error().message());
    }
  }
  Retain(*policy, job.collection);
}

void PolicyScheduler::Retain(const PolicyRecord& policy, const CollectionName& collection) {
  auto outcome = EnforceRetention(catalog_, jobs_, {stores_, backup_roots_, options_.node}, policy,
                                  collection, false);
  if (!outcome) {
    spdlog::warn("policy={} collection={} retention: {}", policy.name, collection.Key(),
                 outcome.error().message());
  }
}

}  // namespace backup
