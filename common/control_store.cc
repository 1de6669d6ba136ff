#include "common/control_store.h"

#include <chrono>

#include "common/logging.h"

namespace backup {

ControlStore::ControlStore(ControlStoreOptions options, sql::Database db)
    : options_(std::move(options)), db_(std::move(db)) {}

uint64_t ControlStore::ChangeVersion() const {
  std::lock_guard lock(change_mu_);
  return change_version_;
}

void ControlStore::NotifyChange() {
  {
    std::lock_guard lock(change_mu_);
    ++change_version_;
  }
  change_cv_.notify_all();
}

void ControlStore::WaitForChange(uint64_t seen, int64_t timeout_ms) const {
  std::unique_lock lock(change_mu_);
  change_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                      [&] { return change_version_ != seen; });
}

Status ControlStore::GroupCommit(const std::function<Status()>& work) {
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
    {
      std::lock_guard db_lock(mu_);
      auto tx = sql::Transaction::Begin(db_);
      for (PendingWork* p : batch) {
        if (!tx) {
          p->result = Fail(tx.error());
          continue;
        }
        if (auto s = db_.Exec("SAVEPOINT item"); !s) {
          p->result = Fail(s.error());
          continue;
        }
        Status done = (*p->work)();
        if (!done) (void)db_.Exec("ROLLBACK TO item");
        (void)db_.Exec("RELEASE item");
        p->result = done;
      }
      if (tx) {
        if (auto committed = tx->Commit(); !committed) {
          for (PendingWork* p : batch) {
            if (*p->result) p->result = Fail(committed.error());
          }
        }
      }
    }
    lock.lock();
    leader_active_ = false;
    batch_cv_.notify_all();
  }
  return *me.result;
}

std::string EncodeJsonMap(const std::map<std::string, std::string>& map) {
  std::string out = "{";
  for (const auto& [k, v] : map) {
    if (out.size() > 1) out += ",";
    out += "\"" + JsonEscape(k) + "\":\"" + JsonEscape(v) + "\"";
  }
  return out + "}";
}

// SQLite's own JSON reader decodes the column, so no second JSON library is needed.
Result<std::map<std::string, std::string>> ControlStore::DecodeJsonMap(const std::string& json) {
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
