// Checks shared by the RPC handlers: string maps (labels, metadata) and page sizes.
// Pure functions; thread-safe.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

#include <google/protobuf/map.h>

#include "common/error.h"

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

// A requested page size: 0 means 100, anything above 1000 is 1000, negative is refused.
inline Result<int> PageSize(int requested) {
  constexpr int kDefault = 100;
  constexpr int kMax = 1000;
  if (requested < 0) return Fail(Error::InvalidArgument("page_size is negative"));
  return requested == 0 ? kDefault : std::min(requested, kMax);
}

}  // namespace backup
