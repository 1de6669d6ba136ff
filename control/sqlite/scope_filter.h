// The namespace scope of a listing (a caller's token may see only some namespaces) as a SQL
// fragment: " AND (col GLOB ?N OR col GLOB ?N+1 ...)", with the patterns bound, never
// spliced. Patterns use only [a-z0-9._-*?] (checked where tokens are loaded), for which
// SQLite's GLOB and fnmatch(3) agree. Pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/sqlite.h"

namespace backup {

// "" for an empty list (no restriction).
inline std::string ScopeFilter(std::string_view column, size_t patterns, int first_index) {
  if (patterns == 0) return "";
  std::string sql = " AND (";
  for (size_t i = 0; i < patterns; ++i) {
    if (i > 0) sql += " OR ";
    sql += std::string(column) + " GLOB ?" + std::to_string(first_index + static_cast<int>(i));
  }
  return sql + ")";
}

inline void BindScope(sql::Statement& stmt, const std::vector<std::string>& patterns,
                      int first_index) {
  for (size_t i = 0; i < patterns.size(); ++i) {
    stmt.BindAt(first_index + static_cast<int>(i), std::string_view(patterns[i]));
  }
}

}  // namespace backup
