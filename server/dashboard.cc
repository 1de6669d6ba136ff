#include "server/dashboard.h"

#include <algorithm>

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include "dashboard.pb.h"
#include "server/dashboard_page.h"
#include "server/policy_wire.h"

namespace backup {
namespace {

constexpr int kQueueShown = 100;
constexpr int kRecentShown = 15;
constexpr int kCollectionsShown = 200;
constexpr int kBackupsPerCollection = 30;

collector::dashboard::Job ToDashboard(const Job& j) {
  collector::dashboard::Job out;
  out.set_job_id(j.id);
  out.set_kind(std::string(ToString(j.kind)));
  out.set_state(std::string(ToString(j.state)));
  out.set_collection(j.collection.Key());
  out.set_backup_id(j.backup_id);
  out.set_phase(j.progress.phase);
  out.set_bytes_done(j.progress.bytes_done);
  out.set_bytes_total(j.progress.bytes_total);
  out.set_items_done(j.progress.items_done);
  out.set_items_total(j.progress.items_total);
  out.set_created_at_ms(j.created_at_ms);
  out.set_started_at_ms(j.started_at_ms);
  out.set_finished_at_ms(j.finished_at_ms);
  if (j.error) out.set_error(j.error->message());
  out.set_submitted_by(j.submitted_by);
  out.set_attempt(j.attempt);
  out.set_max_attempts(j.max_attempts);
  return out;
}

Status AddJobs(JobQueue& jobs, const std::vector<std::string>& scope,
               collector::dashboard::State& state) {
  for (JobState s : {JobState::kRunning, JobState::kQueued}) {
    JobQuery query{.state = s, .namespace_globs = scope, .page_size = kQueueShown};
    auto page = jobs.ListJobs(query);
    if (!page) return Fail(page.error());
    auto* out = s == JobState::kRunning ? state.mutable_running() : state.mutable_queued();
    // Listed newest first; the queue reads better oldest first.
    for (auto it = page->jobs.rbegin(); it != page->jobs.rend(); ++it)
      *out->Add() = ToDashboard(*it);
  }
  JobQuery recent{.namespace_globs = scope, .page_size = 200};
  auto page = jobs.ListJobs(recent);
  if (!page) return Fail(page.error());
  for (const Job& j : page->jobs) {
    if (IsTerminal(j.state) && state.recent_size() < kRecentShown)
      *state.add_recent() = ToDashboard(j);
  }
  return {};
}

Status AddCollections(Catalog& catalog, const std::vector<std::string>& scope,
                      collector::dashboard::State& state) {
  auto collections = catalog.Discover({.namespace_globs = scope, .page_size = kCollectionsShown});
  if (!collections) return Fail(collections.error());
  for (const CollectionRecord& c : collections->collections) {
    BackupQuery query{.collection = c.name, .limit = kBackupsPerCollection};
    auto backups = catalog.ListBackups(query);
    if (!backups) return Fail(backups.error());
    auto& out = *state.add_collections();
    out.set_collection(c.name.Key());
    out.set_completed(backups->total_count);
    for (auto it = backups->backups.rbegin(); it != backups->backups.rend(); ++it) {
      auto& b = *out.add_backups();
      b.set_backup_id(it->id);
      b.set_timestamp(it->timestamp);
      b.set_size_bytes(it->archived() ? it->stored_bytes : it->size_bytes);
      // completed_at has whole seconds: a sub-second backup can come out slightly negative.
      const int64_t took_ms =
          it->completed_at > 0 ? it->completed_at * 1000 - it->created_at_ms : 0;
      b.set_duration_seconds(static_cast<double>(std::max<int64_t>(0, took_ms)) / 1000.0);
      b.set_state(std::string(ToString(it->state)));
      b.set_store(it->store);
      b.set_verified(it->last_verified_at > 0 && it->last_verify_valid);
    }
  }
  return {};
}

Status AddPolicies(PolicyStore& policies, const std::vector<std::string>& scope,
                   collector::dashboard::State& state) {
  auto list = policies.ListPolicies(scope);
  if (!list) return Fail(list.error());
  for (const PolicyRecord& p : *list) {
    auto& out = *state.add_policies();
    *out.mutable_policy() = PolicyToWire(p);
    const std::string by = "policy:" + p.name;
    for (const auto* jobs : {&state.running(), &state.recent()}) {
      for (const auto& j : *jobs) {
        if (j.submitted_by() == by && out.last_outcome().empty()) out.set_last_outcome(j.state());
      }
    }
  }
  return {};
}

// The caller of an HTTP request, by its Authorization header, as gRPC calls are.
Result<Principal> Authenticate(const AccessControl& access, const HttpRequest& request) {
  AccessControl::Metadata metadata;
  if (!request.authorization.empty()) {
    metadata.emplace("authorization", grpc::string_ref(request.authorization));
  }
  return access.Authenticate(metadata, nullptr, request.peer);
}

}  // namespace

Result<std::string> Dashboard::StateJson(const Principal& who) {
  const std::vector<std::string> scope =
      who.scope.IsEverything() ? std::vector<std::string>{} : who.scope.patterns();
  collector::dashboard::State state;
  state.set_now_ms(ctx_.jobs->clock().NowMs());
  BACKUP_TRY(AddJobs(*ctx_.jobs, scope, state), "dashboard jobs");
  BACKUP_TRY(AddCollections(*ctx_.catalog, scope, state), "dashboard collections");
  BACKUP_TRY(AddPolicies(*ctx_.policies, scope, state), "dashboard policies");
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  if (auto printed = google::protobuf::util::MessageToJsonString(state, &json, options);
      !printed.ok()) {
    return Fail(Error::Internal("dashboard state: " + printed.ToString()));
  }
  return json;
}

HttpHandler Dashboard::Guard(HttpHandler inner) const {
  return [this, inner = std::move(inner)](const HttpRequest& request) -> HttpAnswer {
    // The page holds no data; /api/state authenticates itself (it needs the principal).
    if (request.path == "/" || request.path == "/api/state") return inner(request);
    auto who = Authenticate(*ctx_.access, request);
    if (!who) return {.status = 401, .body = who.error().message() + "\n"};
    return inner(request);
  };
}

std::map<std::string, HttpHandler> Dashboard::Routes() {
  std::map<std::string, HttpHandler> routes;
  routes["/"] = [](const HttpRequest&) {
    return HttpAnswer{.content_type = "text/html; charset=utf-8", .body = kDashboardPage};
  };
  routes["/api/state"] = [this](const HttpRequest& request) -> HttpAnswer {
    auto who = Authenticate(*ctx_.access, request);
    if (!who) return {.status = 401, .body = who.error().message() + "\n"};
    auto json = StateJson(*who);
    if (!json) {
      spdlog::warn("dashboard: {}", json.error().message());
      return {.status = 503, .body = json.error().message() + "\n"};
    }
    return {.content_type = "application/json", .body = std::move(*json)};
  };
  return routes;
}

}  // namespace backup
