#include "storage/backup_store.h"

#include "common/ids.h"

namespace backup {

namespace {

bool KeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

Status CheckObjectKey(std::string_view key) {
  constexpr size_t kMaxKey = 1024;
  auto bad = [&](std::string_view why) {
    return Fail(Error::InvalidArgument("object key \"" + std::string(key.substr(0, 80)) +
                                       "\": " + std::string(why)));
  };
  if (key.empty() || key.size() > kMaxKey) return bad("must have 1 to 1024 characters");
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    std::string_view part = key.substr(start, end - start);
    if (part.empty()) return bad("has an empty component (a leading, doubled or trailing /)");
    if (part == "." || part == "..") return bad("has a . or .. component");
    for (char c : part) {
      if (!KeyChar(c)) return bad("may only hold letters, digits, '.', '_', '-' and '/'");
    }
    start = end + 1;
  }
  return {};
}

Status BackupStore::CheckWritable(std::string_view prefix) {
  const std::string key = std::string(prefix) + ".collector-probe-" + RandomHex(8);
  const std::string body = "collector backup store probe\n";
  auto writer = Put(key, static_cast<int64_t>(body.size()));
  if (!writer) return Fail(writer.error().Context("write a probe to " + Locate(key)));
  BACKUP_TRY((*writer)->Write(body), "write a probe to " + Locate(key));
  auto put = (*writer)->Commit();
  if (!put) return Fail(put.error().Context("write a probe to " + Locate(key)));
  auto back = ReadSmallObject(*this, key, 1024);
  Status removed = Delete(key);
  if (!back) return Fail(back.error().Context("read the probe back from " + Locate(key)));
  if (*back != body) {
    return Fail(Error::DataLoss("the probe read back from " + Locate(key) + " differs"));
  }
  if (!removed) return Fail(removed.error().Context("remove the probe " + Locate(key)));
  return {};
}

Result<std::string> ReadSmallObject(BackupStore& store, std::string_view key, int64_t max_bytes) {
  std::string out;
  bool too_big = false;
  Status got = store.Get(key, 0, -1, [&](std::string_view piece) {
    if (static_cast<int64_t>(out.size() + piece.size()) > max_bytes) {
      too_big = true;
      return false;
    }
    out.append(piece);
    return true;
  });
  if (too_big) {
    return Fail(Error::ResourceExhausted(store.Locate(key) + " is larger than " +
                                         std::to_string(max_bytes) + " bytes"));
  }
  if (!got) return Fail(got.error());
  return out;
}

}  // namespace backup
