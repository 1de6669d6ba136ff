// Bytes shown as text. File names are bytes (POSIX allows any but '/' and NUL), while a
// protobuf `string`, a PostgreSQL TEXT column, a JSON log line and a terminal all need valid
// UTF-8: a name that is not must be shown escaped, never copied raw, or one odd name breaks
// every listing that carries it. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace backup {

// True when `bytes` is well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF).
bool IsUtf8(std::string_view bytes);

// `text` as valid UTF-8: returned unchanged when it already is, else every byte that is not
// part of a well-formed sequence replaced by "\xNN". Idempotent, so messages built from
// messages can pass through it again.
std::string ValidUtf8(std::string text);

// A name (a file's path, an entry of an archive) for a message, a log line or a listing:
// printable UTF-8 kept, a backslash doubled, control characters and bytes that are not
// UTF-8 as "\xNN", so two different names never look alike; cut after `limit` bytes of the
// name with "..." added.
std::string ShowName(std::string_view name, size_t limit = 4096);

// A file's name (relative, so never starting with '/') as a column that holds only UTF-8
// (PostgreSQL's TEXT) can keep it: unchanged when it is UTF-8, else "/x:" and its bytes in
// hex. NameFromText(NameAsText(n)) == n for every relative name.
std::string NameAsText(std::string_view name);
std::string NameFromText(std::string_view text);

}  // namespace backup
