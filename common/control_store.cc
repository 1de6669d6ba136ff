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
