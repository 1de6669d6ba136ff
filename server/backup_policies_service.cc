#include "server/backup_policies_service.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include "common/wire.h"
#include "policy/schedule.h"
#include "server/grpc_status.h"
#include "server/policy_wire.h"
#include "server/request_checks.h"
#include "server/serve_call.h"
#include "worker/policy_retention.h"
#include "worker/policy_scheduler.h"

namespace backup {
namespace {

using std::chrono::seconds;
using std::chrono::sys_seconds;

constexpr size_t kMaxPolicies = 1000;
constexpr int kMaxKeep = 100'000;
constexpr int64_t kMaxWithinS = 100LL * 366 * 86'400;
constexpr int64_t kMaxJitterS = 86'400;

sys_seconds Now() {
  return std::chrono::time_point_cast<seconds>(std::chrono::system_clock::now());
}

// A duration field ("" is 0), between 0 and `max` seconds.
Result<int64_t> DurationField(const std::string& text, int64_t max, std::string_view what) {
  if (text.empty()) return 0;
  auto d = ParseDuration(text);
  if (!d || d->count() > max) {
    return Fail(Error::InvalidArgument(std::string(what) + " \"" + text.substr(0, 64) +
                                       "\" is not a duration such as 90s, 30m, 1d12h (at most " +
                                       FormatDuration(seconds(max)) + ")"));
  }
  return d->count();
}

Status ValidateRetention(const collector::RetentionRules& r) {
  for (int keep : {r.keep_last(), r.keep_daily(), r.keep_weekly(), r.keep_monthly()}) {
    if (keep < 0 || keep > kMaxKeep) {
      return Fail(
          Error::InvalidArgument("retention counts are between 0 and " + std::to_string(kMaxKeep)));
    }
  }
  return {};
}

// A policy definition from the wire, every field checked.
Result<PolicyRecord> FromWire(const collector::ScheduledBackupPolicy& wire,
                              const StoreSet& stores) {
  PolicyRecord p;
  BACKUP_TRY(ValidateName(wire.name(), "policy name"), "policy");
  p.name = wire.name();
  const collector::PolicySelector& selector = wire.selector();
  BACKUP_TRY(ValidateName(selector.namespace_(), "selector namespace"), "policy " + p.name);
  p.ns = selector.namespace_();
  if (!selector.name().empty()) {
    BACKUP_TRY(ValidateName(selector.name(), "selector name"), "policy " + p.name);
    p.collection = selector.name();
  }
  BACKUP_TRY(ValidateStringMap(selector.labels(), "selector labels"), "policy " + p.name);
  p.labels.insert(selector.labels().begin(), selector.labels().end());
  BACKUP_TRY(Schedule::Parse(wire.schedule()), "policy " + p.name);
  p.schedule = wire.schedule();
  if (!wire.store().empty() && stores.Find(wire.store()) == nullptr) {
    return Fail(Error::InvalidArgument("policy " + p.name + ": no backup store \"" +
                                       wire.store().substr(0, 64) + "\""));
  }
  p.store = wire.store();
  p.include_files = wire.include_files();
  BACKUP_TRY(ValidateRetention(wire.retention()), "policy " + p.name);
  p.keep_last = wire.retention().keep_last();
  p.keep_daily = wire.retention().keep_daily();
  p.keep_weekly = wire.retention().keep_weekly();
  p.keep_monthly = wire.retention().keep_monthly();
  auto within = DurationField(wire.retention().keep_within(), kMaxWithinS, "keep_within");
  if (!within) return Fail(within.error().Context("policy " + p.name));
  p.keep_within_s = *within;
  auto jitter = DurationField(wire.jitter(), kMaxJitterS, "jitter");
  if (!jitter) return Fail(jitter.error().Context("policy " + p.name));
  p.jitter_s = *jitter;
  p.verify = wire.verify();
  p.paused = wire.paused();
  return p;
}

// The latest slot at or before now (0 if none): a new or changed schedule starts after it.
int64_t CurrentSlot(const std::string& spec) {
  auto schedule = Schedule::Parse(spec);
  if (!schedule) return 0;
  auto slot = schedule->LatestAtOrBefore(Now());
  return slot ? slot->time_since_epoch().count() : 0;
}

AuditFields Named(const std::string& name) { return AuditFields().Add("policy", name); }

}  // namespace

Result<PolicyRecord> BackupPoliciesService::Visible(const Principal& who, const std::string& name,
                                                    Role needed, std::string_view call) {
  BACKUP_TRY(ValidateName(name, "policy name"), std::string(call));
  auto policy = ctx_.policies->GetPolicy(name);
  if (!policy) return Fail(policy.error());
  BACKUP_TRY(Require(who, needed, policy->ns, call), "policy " + name);
  return policy;
}

Status BackupPoliciesService::Answer(const std::string& name, collector::PolicyResponse& response) {
  auto stored = ctx_.policies->GetPolicy(name);
  if (!stored) return Fail(stored.error());
  *response.mutable_status() = OkStatus();
  *response.mutable_policy() = PolicyToWire(*stored);
  return {};
}

Status BackupPoliciesService::DoCreate(const Principal& who,
                                       const collector::ScheduledBackupPolicy& wire,
                                       collector::PolicyResponse& response) {
  auto policy = FromWire(wire, *ctx_.stores);
  if (!policy) return Fail(policy.error());
  BACKUP_TRY(Require(who, Role::kAdmin, policy->ns, "CreatePolicy"), "policy " + policy->name);
  auto existing = ctx_.policies->ListPolicies({});
  if (!existing) return Fail(existing.error());
  if (existing->size() >= kMaxPolicies) {
    return Fail(Error::ResourceExhausted("at most " + std::to_string(kMaxPolicies) +
                                         " policies; delete one first"));
  }
  policy->created_by = who.name;
  policy->last_slot = CurrentSlot(policy->schedule);  // the first run is the next slot
  BACKUP_TRY(ctx_.policies->CreatePolicy(*policy), "create policy");
  spdlog::info("policy={} created in namespace {}: {}", policy->name, policy->ns, policy->schedule);
  return Answer(policy->name, response);
}

Status BackupPoliciesService::DoUpdate(const Principal& who,
                                       const collector::ScheduledBackupPolicy& wire,
                                       collector::PolicyResponse& response) {
  auto current = Visible(who, wire.name(), Role::kAdmin, "UpdatePolicy");
  if (!current) return Fail(current.error());
  auto policy = FromWire(wire, *ctx_.stores);
  if (!policy) return Fail(policy.error());
  BACKUP_TRY(Require(who, Role::kAdmin, policy->ns, "UpdatePolicy"), "policy " + policy->name);
  BACKUP_TRY(ctx_.policies->UpdatePolicy(*policy), "update policy");
  if (policy->schedule != current->schedule) {
    // A new schedule starts with its next slot, not with one it would have had before.
    BACKUP_TRY(ctx_.policies->AdvancePolicySlot(policy->name, CurrentSlot(policy->schedule)),
               "update policy");
  }
  return Answer(policy->name, response);
}

Status BackupPoliciesService::DoSetPaused(const Principal& who,
                                          const collector::SetPolicyPausedRequest& request,
                                          collector::PolicyResponse& response) {
  auto policy = Visible(who, request.name(), Role::kAdmin, "SetPolicyPaused");
  if (!policy) return Fail(policy.error());
  policy->paused = request.paused();
  BACKUP_TRY(ctx_.policies->UpdatePolicy(*policy), "pause policy");
  spdlog::info("policy={} {}", policy->name, request.paused() ? "paused" : "resumed");
  return Answer(policy->name, response);
}

Status BackupPoliciesService::DoForget(const Principal& who,
                                       const collector::ForgetBackupsRequest& request,
                                       collector::ForgetBackupsResponse& response) {
  auto policy = Visible(who, request.policy(), request.dry_run() ? Role::kViewer : Role::kAdmin,
                        "ForgetBackups");
  if (!policy) return Fail(policy.error());
  std::vector<CollectionName> collections;
  if (request.has_collection() && !request.collection().name().empty()) {
    CollectionName name = FromProto(request.collection());
    BACKUP_TRY(ValidateCollectionName(name), "forget");
    if (name.ns != policy->ns) {
      return Fail(Error::InvalidArgument("forget: policy " + policy->name + " acts in namespace " +
                                         policy->ns + ", not " + name.ns));
    }
    collections.push_back(name);
  } else {
    auto selected = SelectCollections(*ctx_.catalog, *policy);
    if (!selected) return Fail(selected.error().Context("forget"));
    for (CollectionRecord& c : *selected) collections.push_back(std::move(c.name));
  }
  for (const CollectionName& c : collections) {
    auto outcome =
        EnforceRetention(*ctx_.catalog, *ctx_.jobs, {*ctx_.stores, ctx_.backup_roots, ctx_.node},
                         *policy, c, request.dry_run());
    if (!outcome) return Fail(outcome.error().Context("forget"));
    auto& out = *response.add_collections();
    *out.mutable_collection() = ToProto(c);
    out.set_removed(outcome->removed);
    out.set_bytes_freed(outcome->bytes_freed);
    for (const RetentionVerdict& v : outcome->verdicts) {
      auto& b = *out.add_backups();
      b.set_backup_id(v.id);
      b.set_timestamp(v.taken.time_since_epoch().count());
      b.set_keep(v.keep);
      for (const std::string& reason : v.reasons) b.add_reasons(reason);
    }
  }
  *response.mutable_status() = OkStatus();
  return {};
}

grpc::Status BackupPoliciesService::CreatePolicy(grpc::ServerContext* context,
                                                 const collector::CreatePolicyRequest* request,
                                                 collector::PolicyResponse* response) {
  return ServeChange(
      ctx_, *context, "CreatePolicy",
      [&](const Principal& who) { return DoCreate(who, request->policy(), *response); },
      [&] { return Named(request->policy().name()); });
}

grpc::Status BackupPoliciesService::GetPolicy(grpc::ServerContext* context,
                                              const collector::GetPolicyRequest* request,
                                              collector::PolicyResponse* response) {
  return ServeRead(ctx_, *context, [&](const Principal& who) -> Status {
    auto policy = Visible(who, request->name(), Role::kViewer, "GetPolicy");
    if (!policy) return Fail(policy.error());
    *response->mutable_status() = OkStatus();
    *response->mutable_policy() = PolicyToWire(*policy);
    return {};
  });
}

grpc::Status BackupPoliciesService::ListPolicies(grpc::ServerContext* context,
                                                 const collector::ListPoliciesRequest* /*request*/,
                                                 collector::ListPoliciesResponse* response) {
  return ServeRead(ctx_, *context, [&](const Principal& who) -> Status {
    auto policies = ctx_.policies->ListPolicies(VisibleNamespaces(who));
    if (!policies) return Fail(policies.error().Context("list policies"));
    *response->mutable_status() = OkStatus();
    for (const PolicyRecord& p : *policies) *response->add_policies() = PolicyToWire(p);
    return {};
  });
}

grpc::Status BackupPoliciesService::UpdatePolicy(grpc::ServerContext* context,
                                                 const collector::UpdatePolicyRequest* request,
                                                 collector::PolicyResponse* response) {
  return ServeChange(
      ctx_, *context, "UpdatePolicy",
      [&](const Principal& who) { return DoUpdate(who, request->policy(), *response); },
      [&] { return Named(request->policy().name()); });
}

grpc::Status BackupPoliciesService::SetPolicyPaused(
    grpc::ServerContext* context, const collector::SetPolicyPausedRequest* request,
    collector::PolicyResponse* response) {
  return ServeChange(
      ctx_, *context, "SetPolicyPaused",
      [&](const Principal& who) { return DoSetPaused(who, *request, *response); },
      [&] { return Named(request->name()).Add("paused", request->paused() ? "true" : "false"); });
}

grpc::Status BackupPoliciesService::DeletePolicy(grpc::ServerContext* context,
                                                 const collector::DeletePolicyRequest* request,
                                                 collector::DeletePolicyResponse* response) {
  return ServeChange(
      ctx_, *context, "DeletePolicy",
      [&](const Principal& who) -> Status {
        auto policy = Visible(who, request->name(), Role::kAdmin, "DeletePolicy");
        if (!policy) return Fail(policy.error());
        BACKUP_TRY(ctx_.policies->DeletePolicy(policy->name), "delete policy");
        *response->mutable_status() = OkStatus();
        return {};
      },
      [&] { return Named(request->name()); });
}

grpc::Status BackupPoliciesService::ForgetBackups(grpc::ServerContext* context,
                                                  const collector::ForgetBackupsRequest* request,
                                                  collector::ForgetBackupsResponse* response) {
  return ServeChange(
      ctx_, *context, "ForgetBackups",
      [&](const Principal& who) { return DoForget(who, *request, *response); },
      [&] {
        int removed = 0;
        for (const auto& c : response->collections()) removed += c.removed();
        return Named(request->policy())
            .Add("dry_run", request->dry_run() ? "true" : "false")
            .Add("removed", std::to_string(removed));
      });
}

}  // namespace backup
