// Backup policies: CreatePolicy, GetPolicy, ListPolicies, UpdatePolicy, DeletePolicy,
// AdvancePolicySlot.
#include <string>

#include "control/json_map.h"
#include "control/sqlite/scope_filter.h"
#include "control/sqlite/sqlite_control_store.h"

namespace backup {
namespace {

constexpr std::string_view kInsertPolicy = R"sql(
INSERT INTO policies (name, namespace, collection_name, labels, schedule, store, include_files,
                      keep_last, keep_daily, keep_weekly, keep_monthly, keep_within_s, verify,
                      jitter_s, paused, created_by, created_at, updated_at, last_slot)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?17, ?18))sql";

constexpr std::string_view kUpdatePolicy = R"sql(
UPDATE policies SET namespace = ?2, collection_name = ?3, labels = ?4, schedule = ?5, store = ?6,
  include_files = ?7, keep_last = ?8, keep_daily = ?9, keep_weekly = ?10, keep_monthly = ?11,
  keep_within_s = ?12, verify = ?13, jitter_s = ?14, paused = ?15, updated_at = ?16
WHERE name = ?1)sql";

constexpr std::string_view kSelectPolicyColumns =
    "SELECT name, namespace, collection_name, labels, schedule, store, include_files, keep_last, "
    "keep_daily, keep_weekly, keep_monthly, keep_within_s, verify, jitter_s, paused, created_by, "
    "created_at, updated_at, last_slot FROM policies";

}  // namespace

Result<std::vector<PolicyRecord>> SqliteControlStore::ReadPolicies(sql::Statement& s) {
  std::vector<PolicyRecord> out;
  for (;;) {
    auto row = s.Step();
    if (!row) return Fail(row.error().Context("read policies"));
    if (!*row) break;
    PolicyRecord p;
    p.name = s.Text(0);
    p.ns = s.Text(1);
    p.collection = s.Text(2);
    auto labels = DecodeJsonMap(s.Text(3));
    if (!labels) return Fail(labels.error());
    p.labels = std::move(*labels);
    p.schedule = s.Text(4);
    p.store = s.Text(5);
    p.include_files = s.Int(6) != 0;
    p.keep_last = static_cast<int>(s.Int(7));
    p.keep_daily = static_cast<int>(s.Int(8));
    p.keep_weekly = static_cast<int>(s.Int(9));
    p.keep_monthly = static_cast<int>(s.Int(10));
    p.keep_within_s = s.Int(11);
    p.verify = s.Int(12) != 0;
    p.jitter_s = s.Int(13);
    p.paused = s.Int(14) != 0;
    p.created_by = s.Text(15);
    p.created_at_ms = s.Int(16);
    p.updated_at_ms = s.Int(17);
    p.last_slot = s.Int(18);
    out.push_back(std::move(p));
  }
  return out;
}

Status SqliteControlStore::CreatePolicy(const PolicyRecord& p) {
  std::lock_guard lock(mu_);
  const std::string labels = EncodeJsonMap(p.labels);
  auto inserted =
      db_.Run(kInsertPolicy,
              {p.name, p.ns, p.collection, labels, p.schedule, p.store, int64_t{p.include_files},
               int64_t{p.keep_last}, int64_t{p.keep_daily}, int64_t{p.keep_weekly},
               int64_t{p.keep_monthly}, p.keep_within_s, int64_t{p.verify}, p.jitter_s,
               int64_t{p.paused}, p.created_by, Now(), p.last_slot});
  if (!inserted && inserted.error().code() == Code::kAlreadyExists) {
    return Fail(Error::AlreadyExists("policy " + p.name + " already exists"));
  }
  if (!inserted) return Fail(inserted.error().Context("create policy"));
  return {};
}

Result<PolicyRecord> SqliteControlStore::GetPolicy(const std::string& name) {
  std::lock_guard lock(mu_);
  auto stmt = db_.Prepare(std::string(kSelectPolicyColumns) + " WHERE name = ?1");
  if (!stmt) return Fail(stmt.error());
  stmt->Bind({name});
  auto policies = ReadPolicies(*stmt);
  if (!policies) return Fail(policies.error());
  if (policies->empty()) return Fail(Error::NotFound("policy " + name + " not found"));
  return std::move(policies->front());
}

Result<std::vector<PolicyRecord>> SqliteControlStore::ListPolicies(
    const std::vector<std::string>& namespace_globs) {
  std::lock_guard lock(mu_);
  auto stmt = db_.Prepare(std::string(kSelectPolicyColumns) + " WHERE 1" +
                          ScopeFilter("namespace", namespace_globs.size(), 1) + " ORDER BY name");
  if (!stmt) return Fail(stmt.error());
  BindScope(*stmt, namespace_globs, 1);
  return ReadPolicies(*stmt);
}

Status SqliteControlStore::UpdatePolicy(const PolicyRecord& p) {
  std::lock_guard lock(mu_);
  const std::string labels = EncodeJsonMap(p.labels);
  BACKUP_TRY(
      db_.Run(kUpdatePolicy, {p.name, p.ns, p.collection, labels, p.schedule, p.store,
                              int64_t{p.include_files}, int64_t{p.keep_last}, int64_t{p.keep_daily},
                              int64_t{p.keep_weekly}, int64_t{p.keep_monthly}, p.keep_within_s,
                              int64_t{p.verify}, p.jitter_s, int64_t{p.paused}, Now()}),
      "update policy");
  if (db_.Changes() == 0) return Fail(Error::NotFound("policy " + p.name + " not found"));
  return {};
}

Status SqliteControlStore::DeletePolicy(const std::string& name) {
  std::lock_guard lock(mu_);
  BACKUP_TRY(db_.Run("DELETE FROM policies WHERE name = ?1", {name}), "delete policy");
  if (db_.Changes() == 0) return Fail(Error::NotFound("policy " + name + " not found"));
  return {};
}

Result<bool> SqliteControlStore::AdvancePolicySlot(const std::string& name, int64_t slot) {
  std::lock_guard lock(mu_);
  BACKUP_TRY(db_.Run("UPDATE policies SET last_slot = ?2 WHERE name = ?1 AND last_slot < ?2",
                     {name, slot}),
             "advance policy " + name);
  return db_.Changes() == 1;
}

}  // namespace backup
