#include "control/sqlite/sqlite_control_store.h"

#include <chrono>

namespace backup {
namespace {

// The lease condition every worker write is fenced by; ?1-?3 are the lease's fields.
constexpr std::string_view kFence =
    " WHERE job_id = ?1 AND lease_owner = ?2 AND attempt = ?3 AND state = 'RUNNING'";

// A NULL ?6 (no totals given) keeps the totals the heartbeats recorded.
constexpr std::string_view kSucceedJob = R"sql(
UPDATE jobs SET state = 'SUCCEEDED', result = ?4, phase = 'done', finished_at = ?5,
                updated_at = ?5,
                bytes_total = coalesce(?6, bytes_total), bytes_done = coalesce(?6, bytes_total),
                items_total = coalesce(?7, items_total), items_done = coalesce(?7, items_total))sql";

}  // namespace

SqliteControlStore::SqliteControlStore(SqliteControlStoreOptions options, sql::Database db)
    : options_(std::move(options)), db_(std::move(db)) {}

uint64_t SqliteControlStore::ChangeVersion() const { return changes_.Version(); }

void SqliteControlStore::NotifyChange() { changes_.Bump(); }

void SqliteControlStore::WaitForChange(uint64_t seen, int64_t timeout_ms) const {
  changes_.Wait(seen, timeout_ms);
}

Status SqliteControlStore::FencedWrite(const Lease& lease, std::string_view what,
                                       std::string_view update,
                                       std::initializer_list<sql::Value> params,
                                       const std::function<Status()>& then) {
  {
    std::lock_guard lock(mu_);
    auto tx = sql::Transaction::Begin(db_);
    if (!tx) return Fail(tx.error().Context(what));
    auto stmt = db_.Prepare(std::string(update) + std::string(kFence));
    if (!stmt) return Fail(stmt.error().Context(what));
    stmt->Bind({lease.job_id, lease.owner, static_cast<int64_t>(lease.attempt)});
    int index = 4;
    for (const sql::Value& value : params) stmt->BindAt(index++, value);
    BACKUP_TRY(stmt->Run(), what);
    if (db_.Changes() != 1) {
      return Fail(Error::Aborted(std::string(what) + ": job " + lease.job_id +
                                 " is no longer leased to this worker"));
    }
    if (then) BACKUP_TRY(then(), what);
    BACKUP_TRY(tx->Commit(), what);
  }
  NotifyChange();
  return {};
}

Status SqliteControlStore::SucceedJob(const Lease& lease, std::string_view what,
                                      const std::string& result,
                                      std::optional<std::pair<int64_t, int64_t>> totals,
                                      const std::function<Status()>& then) {
  sql::Value bytes = nullptr, items = nullptr;
  if (totals) {
    bytes = totals->first;
    items = totals->second;
  }
  return FencedWrite(lease, what, kSucceedJob, {std::string_view(result), Now(), bytes, items},
                     then);
}

Status SqliteControlStore::GroupCommit(const std::function<Status()>& work) {
  PendingWork me{&work, std::nullopt};
  std::unique_lock lock(batch_mu_);
  pending_.push_back(&me);
  while (!me.result) {
    if (leader_active_) {
      batch_cv_.wait(lock);
      continue;
    }
    leader_active_ = true;
    std::vector<PendingWork*> batch;
    batch.swap(pending_);
    lock.unlock();
    std::vector<Status> results = CommitBatch(batch);
    lock.lock();
    // Results are published under batch_mu_, which every waiter reads them under.
    for (size_t i = 0; i < batch.size(); ++i) batch[i]->result = std::move(results[i]);
    leader_active_ = false;
    batch_cv_.notify_all();
  }
  return *me.result;
}

std::vector<Status> SqliteControlStore::CommitBatch(const std::vector<PendingWork*>& batch) {
  std::vector<Status> results;
  results.reserve(batch.size());
  std::lock_guard db_lock(mu_);
  auto tx = sql::Transaction::Begin(db_);
  for (PendingWork* p : batch) {
    if (!tx) {
      results.emplace_back(Fail(tx.error()));
      continue;
    }
    if (auto s = db_.Exec("SAVEPOINT item"); !s) {
      results.emplace_back(Fail(s.error()));
      continue;
    }
    Status done = (*p->work)();
    if (!done) (void)db_.Exec("ROLLBACK TO item");
    (void)db_.Exec("RELEASE item");
    results.push_back(std::move(done));
  }
  if (!tx) return results;
  if (auto committed = tx->Commit(); !committed) {
    for (Status& result : results) {
      if (result) result = Fail(committed.error());
    }
  }
  return results;
}

// SQLite's own JSON reader decodes the column, so no second JSON library is needed.
Result<std::map<std::string, std::string>> SqliteControlStore::DecodeJsonMap(
    const std::string& json) {
  std::map<std::string, std::string> out;
  if (json.empty()) return out;
  auto stmt = db_.Prepare("SELECT key, value FROM json_each(?1)");
  if (!stmt) return Fail(stmt.error());
  stmt->Bind({std::string_view(json)});
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Fail(row.error().Context("decode metadata"));
    if (!*row) break;
    out[stmt->Text(0)] = stmt->Text(1);
  }
  return out;
}

}  // namespace backup
