#include "control/json_map.h"

#include "common/logging.h"

namespace backup {

std::string EncodeJsonMap(const std::map<std::string, std::string>& map) {
  // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict on the equivalent
  // chain of std::string operator+ (a known GCC 12 false positive).
  std::string out = "{";
  for (const auto& [k, v] : map) {
    if (out.size() > 1) out += ',';
    out += '"';
    out += JsonEscape(k);
    out += "\":\"";
    out += JsonEscape(v);
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace backup
