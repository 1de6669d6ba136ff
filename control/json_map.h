// The string maps of the control database (a backup's metadata, a policy's labels) as the
// JSON object both stores keep them in: SQLite reads it back with json_each, PostgreSQL
// stores it as jsonb.
// Thread-safety: a pure function.
#pragma once

#include <map>
#include <string>

namespace backup {

// {"key":"value",...}, keys in order, both JSON-escaped.
std::string EncodeJsonMap(const std::map<std::string, std::string>& map);

}  // namespace backup
