// Checks shared by the RPC handlers: string maps (labels, metadata) and page sizes.
// Pure functions; thread-safe.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/map.h>

#include "common/error.h"
#include "common/policy_keys.h"
#include "common/records.h"  // kMaxAttemptsLimit

namespace backup {

// At most 64 entries; keys 1-256 bytes, values at most 4096. `what` names the field.
inline Status ValidateStringMap(const google::protobuf::Map<std::string, std::string>& map,
                                std::string_view what) {
  if (map.size() > 64)
    return Fail(Error::InvalidArgument(std::string(what) + ": at most 64 entries"));
  for (const auto& [k, v] : map) {
    if (k.empty() || k.size() > 256 || v.size() > 4096) {
      return Fail(Error::InvalidArgument(std::string(what) + " key \"" + k.substr(0, 64) +
                                         "\": keys are 1-256 bytes, values at most 4096"));
    }
    if (k.find('\0') != std::string::npos || v.find('\0') != std::string::npos) {
      return Fail(Error::InvalidArgument(std::string(what) + " key \"" +
                                         k.substr(0, k.find('\0')).substr(0, 64) +
                                         "\": keys and values may not contain NUL"));
    }
  }
  return {};
}

// A client's idempotency key and metadata may not look like a backup policy's (they would
// make its scheduler skip a slot, or its retention delete a backup it did not make).
inline Status RefuseReservedKey(const std::string& idempotency_key) {
  if (idempotency_key.starts_with(kPolicyKeyPrefix)) {
    return Fail(Error::InvalidArgument("idempotency_key may not start with \"" +
                                       std::string(kPolicyKeyPrefix) +
                                       "\" (reserved for backup policies)"));
  }
  return {};
}

inline Status RefuseReserved(const std::string& idempotency_key,
                             const google::protobuf::Map<std::string, std::string>& metadata) {
  if (auto refused = RefuseReservedKey(idempotency_key); !refused) return refused;
  for (const auto& [k, v] : metadata) {
    if (k.starts_with(kReservedMetadataPrefix)) {
      return Fail(Error::InvalidArgument(
          "metadata key \"" + k.substr(0, 64) + "\": keys starting with \"" +
          std::string(kReservedMetadataPrefix) + "\" are written by backupd only"));
    }
  }
  return {};
}

// A requested page size: 0 means 100, anything above 1000 is 1000, negative is refused.
inline Result<int> PageSize(int requested) {
  constexpr int kDefault = 100;
  constexpr int kMax = 1000;
  if (requested < 0) return Fail(Error::InvalidArgument("page_size is negative"));
  return requested == 0 ? kDefault : std::min(requested, kMax);
}

// The most a list answer carries before its page stops early: gRPC's default message
// limit is 4 MiB, and one item's labels or metadata may reach ~280 KB (64 x 4 KB).
constexpr size_t kMaxPageBytes = 3 << 20;

// Adds `items` to a list answer, `add(item)` returning the message it added, until the
// added messages pass kMaxPageBytes. Returns the next page's token: `token_of(item)` of
// the last item added when the page stopped early, else `next_token` (the store's).
template <typename Item, typename Add, typename TokenOf>
std::string FillPage(const std::vector<Item>& items, const std::string& next_token, Add&& add,
                     TokenOf&& token_of) {
  size_t bytes = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    bytes += add(items[i]).ByteSizeLong();
    if (bytes > kMaxPageBytes && i + 1 < items.size()) return token_of(items[i]);
  }
  return next_token;
}

}  // namespace backup
