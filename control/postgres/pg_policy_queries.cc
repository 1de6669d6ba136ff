// Backup policies on PostgreSQL: CreatePolicy, GetPolicy, ListPolicies, UpdatePolicy,
// DeletePolicy, AdvancePolicySlot.
#include <string>

#include "control/json_map.h"
#include "control/postgres/postgres_control_store.h"

namespace backup {
namespace {

constexpr std::string_view kInsertPolicy = R"sql(
INSERT INTO policies (name, namespace, collection_name, labels, schedule, store, include_files,
                      keep_last, keep_daily, keep_weekly, keep_monthly, keep_within_s, verify,
                      jitter_s, paused, created_by, created_at, updated_at, last_slot)
VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
        backup_now_ms($17), backup_now_ms($17), $18))sql";

constexpr std::string_view kUpdatePolicy = R"sql(
UPDATE policies SET namespace = $2, collection_name = $3, labels = $4::jsonb, schedule = $5,
  store = $6, include_files = $7, keep_last = $8, keep_daily = $9, keep_weekly = $10,
  keep_monthly = $11, keep_within_s = $12, verify = $13, jitter_s = $14, paused = $15,
  updated_at = backup_now_ms($16)
WHERE name = $1)sql";

constexpr std::string_view kSelectPolicyColumns = R"sql(
SELECT name, namespace, collection_name, backup_map_hex(labels), schedule, store,
       include_files, keep_last, keep_daily, keep_weekly, keep_monthly, keep_within_s, verify,
       jitter_s, paused, created_by, created_at, updated_at, last_slot
FROM policies)sql";

Result<std::vector<PolicyRecord>> ReadPolicies(const pg::Rows& r) {
  std::vector<PolicyRecord> out;
  for (int i = 0; i < r.Count(); ++i) {
    PolicyRecord p;
    p.name = r.Text(i, 0);
    p.ns = r.Text(i, 1);
    p.collection = r.Text(i, 2);
    auto labels = DecodeHexMap(r.Text(i, 3));
    if (!labels) return Fail(labels.error().Context("policy " + p.name + " labels"));
    p.labels = std::move(*labels);
    p.schedule = r.Text(i, 4);
    p.store = r.Text(i, 5);
    p.include_files = r.Bool(i, 6);
    p.keep_last = static_cast<int>(r.Int(i, 7));
    p.keep_daily = static_cast<int>(r.Int(i, 8));
    p.keep_weekly = static_cast<int>(r.Int(i, 9));
    p.keep_monthly = static_cast<int>(r.Int(i, 10));
    p.keep_within_s = r.Int(i, 11);
    p.verify = r.Bool(i, 12);
    p.jitter_s = r.Int(i, 13);
    p.paused = r.Bool(i, 14);
    p.created_by = r.Text(i, 15);
    p.created_at_ms = r.Int(i, 16);
    p.updated_at_ms = r.Int(i, 17);
    p.last_slot = r.Int(i, 18);
    out.push_back(std::move(p));
  }
  return out;
}

// The definition's parameters $2-$15, shared by insert and update.
std::vector<pg::Value> Definition(const PolicyRecord& p, const std::string& labels) {
  return {std::string_view(p.name),
          std::string_view(p.ns),
          std::string_view(p.collection),
          std::string_view(labels),
          std::string_view(p.schedule),
          std::string_view(p.store),
          p.include_files,
          int64_t{p.keep_last},
          int64_t{p.keep_daily},
          int64_t{p.keep_weekly},
          int64_t{p.keep_monthly},
          p.keep_within_s,
          p.verify,
          p.jitter_s,
          p.paused};
}

}  // namespace

Status PostgresControlStore::CreatePolicy(const PolicyRecord& p) {
  const std::string labels = EncodeJsonMap(p.labels);
  std::vector<pg::Value> params = Definition(p, labels);
  params.insert(params.end(), {std::string_view(p.created_by), Now(), p.last_slot});
  return WithConnection("create policy", [&](pg::Connection& c) -> Status {
    auto inserted = c.Run(kInsertPolicy, params);
    if (!inserted && inserted.error().code() == Code::kAlreadyExists) {
      return Fail(Error::AlreadyExists("policy " + p.name + " already exists"));
    }
    if (!inserted) return Fail(inserted.error());
    return {};
  });
}

Result<PolicyRecord> PostgresControlStore::GetPolicy(const std::string& name) {
  std::vector<PolicyRecord> found;
  if (auto done = WithConnection("get policy",
                                 [&](pg::Connection& c) -> Status {
                                   auto r = c.Query(
                                       std::string(kSelectPolicyColumns) + " WHERE name = $1",
                                       {std::string_view(name)});
                                   if (!r) return Fail(r.error());
                                   auto read = ReadPolicies(*r);
                                   if (!read) return Fail(read.error());
                                   found = std::move(*read);
                                   return {};
                                 });
      !done)
    return Fail(done.error());
  if (found.empty()) return Fail(Error::NotFound("policy " + name + " not found"));
  return std::move(found.front());
}

Result<std::vector<PolicyRecord>> PostgresControlStore::ListPolicies(
    const std::vector<std::string>& namespace_globs) {
  const std::string scope = pg::LikeArray(namespace_globs);
  std::vector<PolicyRecord> out;
  if (auto done = WithConnection(
          "list policies",
          [&](pg::Connection& c) -> Status {
            auto r = namespace_globs.empty()
                         ? c.Query(std::string(kSelectPolicyColumns) + " ORDER BY name")
                         : c.Query(std::string(kSelectPolicyColumns) +
                                       " WHERE namespace LIKE ANY ($1::text[]) ORDER BY name",
                                   {std::string_view(scope)});
            if (!r) return Fail(r.error());
            auto read = ReadPolicies(*r);
            if (!read) return Fail(read.error());
            out = std::move(*read);
            return {};
          });
      !done)
    return Fail(done.error());
  return out;
}

Status PostgresControlStore::UpdatePolicy(const PolicyRecord& p) {
  const std::string labels = EncodeJsonMap(p.labels);
  std::vector<pg::Value> params = Definition(p, labels);
  params.push_back(Now());
  return WithConnection("update policy", [&](pg::Connection& c) -> Status {
    auto n = c.Run(kUpdatePolicy, params);
    if (!n) return Fail(n.error());
    if (*n == 0) return Fail(Error::NotFound("policy " + p.name + " not found"));
    return {};
  });
}

Status PostgresControlStore::DeletePolicy(const std::string& name) {
  return WithConnection("delete policy", [&](pg::Connection& c) -> Status {
    auto n = c.Run("DELETE FROM policies WHERE name = $1", {std::string_view(name)});
    if (!n) return Fail(n.error());
    if (*n == 0) return Fail(Error::NotFound("policy " + name + " not found"));
    return {};
  });
}

Result<bool> PostgresControlStore::AdvancePolicySlot(const std::string& name, int64_t slot) {
  bool moved = false;
  if (auto done = WithConnection("advance policy " + name,
                                 [&](pg::Connection& c) -> Status {
                                   auto n = c.Run(
                                       "UPDATE policies SET last_slot = $2 "
                                       "WHERE name = $1 AND last_slot < $2",
                                       {std::string_view(name), slot});
                                   if (!n) return Fail(n.error());
                                   moved = *n == 1;
                                   return {};
                                 });
      !done)
    return Fail(done.error());
  return moved;
}

}  // namespace backup
