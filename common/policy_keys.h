// The marks a backup policy leaves on what it schedules, and the prefixes clients may not
// use so that nothing else can carry them. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/names.h"

namespace backup {

// Idempotency keys of scheduled jobs start with this; a client's key may not.
inline constexpr std::string_view kPolicyKeyPrefix = "policy/";
// Backup metadata keys with this prefix are written by backupd only.
inline constexpr std::string_view kReservedMetadataPrefix = "collector.";
// A scheduled backup's metadata names its policy under this key.
inline constexpr std::string_view kPolicyMetadataKey = "collector.policy";
// ... and its slot, in unix seconds.
inline constexpr std::string_view kSlotMetadataKey = "collector.slot";

// "policy/<policy>/<slot unix seconds>/<ns>/<name>": the one backup job of a slot for one
// collection (names never contain '/', so the key is unambiguous).
inline std::string PolicyJobKey(std::string_view policy, int64_t slot, const CollectionName& c) {
  return std::string(kPolicyKeyPrefix) + std::string(policy) + "/" + std::to_string(slot) + "/" +
         c.ns + "/" + c.name;
}

// The verify that follows the backup job of `backup_key`.
inline std::string PolicyVerifyKey(const std::string& backup_key) { return backup_key + "/verify"; }

}  // namespace backup
