// Process-wide logging setup: spdlog to stderr, one line per event, as text or as one
// JSON object per line. Call once from main() before starting threads.
#pragma once

#include <string_view>

#include "common/error.h"

namespace backup {

// format: "text" or "json"; level: trace, debug, info, warn, error.
Status InitLogging(std::string_view format, std::string_view level);

// Escapes `s` for the inside of a JSON string literal.
std::string JsonEscape(std::string_view s);

}  // namespace backup
