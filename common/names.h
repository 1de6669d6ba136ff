// Validation of collection namespaces and names, and the confinement of paths to the
// roots an operator allowed. Everything here is pure and thread-safe.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace backup {

struct CollectionName {
  std::string ns;
  std::string name;
  std::string Key() const { return ns + "/" + name; }  // "prod/users"
  bool operator==(const CollectionName&) const = default;
};

// A namespace or name is 1-255 bytes of [A-Za-z0-9._-], starting with a letter or digit.
// This rules out '/', "..", NUL, control characters and anything a shell or a path would
// read specially. `what` names the field in the error ("namespace", "dest_name").
Status ValidateName(std::string_view value, std::string_view what);
Status ValidateCollectionName(const CollectionName& c);

// Resolves `requested` (absolute, or relative to roots[0]) and checks that it lies inside
// one of `roots` after every symlink in its existing prefix is resolved. Returns the
// resolved absolute path. Fails with kInvalidArgument for an empty or NUL-bearing path,
// and kPermissionDenied for a path that leaves every root (also through a symlink).
// REQUIRES: roots is not empty and each root exists.
Result<std::filesystem::path> ConfinePath(std::string_view requested,
                                          const std::vector<std::filesystem::path>& roots);

}  // namespace backup
