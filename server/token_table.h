// The bearer tokens backupd accepts (`--auth-file`): for each, a name, the SHA-256 of the
// token (the token itself is never stored), a role and the namespaces it may act in.
// A TokenTable is immutable once loaded; share it between threads freely.
#pragma once

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace backup {

// What a principal may do, each role including the ones before it:
//   viewer   Discover, ListBackups, GetJob, ListJobs, WatchJob
//   operator + CreateCollection, BackupCollection, VerifyBackup, CancelJob
//   admin    + RestoreBackup, DeleteBackup
enum class Role { kViewer = 1, kOperator = 2, kAdmin = 3 };
std::string_view ToString(Role role);
std::optional<Role> RoleFromString(std::string_view s);

// The namespaces a token may act in: glob patterns with `*` and `?` (fnmatch semantics),
// over the name alphabet, so the same pattern means the same in SQLite's GLOB.
class NamespaceScope {
 public:
  NamespaceScope() = default;  // contains nothing
  static NamespaceScope Everything() { return NamespaceScope({"*"}); }
  // kInvalidArgument for an empty list, more than 64 patterns or a pattern with a
  // character outside [a-z0-9._-*?].
  static Result<NamespaceScope> Parse(std::vector<std::string> patterns);

  bool Contains(std::string_view ns) const;
  bool IsEverything() const { return everything_; }
  const std::vector<std::string>& patterns() const { return patterns_; }
  std::string Describe() const;  // "prod, team-*"

 private:
  explicit NamespaceScope(std::vector<std::string> patterns);
  std::vector<std::string> patterns_;
  bool everything_ = false;
};

struct TokenEntry {
  std::string name;
  std::array<unsigned char, 32> sha256{};
  Role role = Role::kViewer;
  NamespaceScope scope;
};

class TokenTable {
 public:
  // Reads and checks the JSON token file. Errors name the file and the entry; a table with
  // a malformed entry is refused as a whole (a typo must not silently drop a token).
  static Result<TokenTable> Load(const std::filesystem::path& file);
  static Result<TokenTable> Parse(std::string_view json, std::string_view origin);

  // The entry whose hash is SHA-256(token), or nullptr. Compares against every entry in
  // constant time, so the time taken says nothing about which bytes matched.
  const TokenEntry* Find(std::string_view token) const;
  size_t size() const { return entries_.size(); }

 private:
  std::vector<TokenEntry> entries_;
};

// A new random token (32 bytes from the OS's CSPRNG, base64url) and its hash in hex.
struct NewToken {
  std::string token;
  std::string sha256_hex;
};
Result<NewToken> GenerateToken();

}  // namespace backup
