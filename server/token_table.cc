#include "server/token_table.h"

#include <fnmatch.h>

#include <fstream>

#include <google/protobuf/util/json_util.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "auth_file.pb.h"
#include "common/sha256.h"

namespace backup {
namespace {

constexpr size_t kMaxPatterns = 64;
constexpr size_t kMaxTokens = 10'000;
constexpr size_t kMaxFileBytes = 4 << 20;

bool IsPatternChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
         c == '*' || c == '?';
}

std::array<unsigned char, 32> Digest(std::string_view data) {
  std::array<unsigned char, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

Result<std::array<unsigned char, 32>> FromHex(const std::string& hex) {
  std::array<unsigned char, 32> out{};
  if (hex.size() != 64) return Fail(Error::InvalidArgument("sha256 must be 64 hex digits"));
  for (size_t i = 0; i < 32; ++i) {
    unsigned value = 0;
    for (char c : hex.substr(2 * i, 2)) {
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return Fail(Error::InvalidArgument("sha256 must be lowercase hex"));
      value = value * 16 + static_cast<unsigned>(d);
    }
    out[i] = static_cast<unsigned char>(value);
  }
  return out;
}

Result<TokenEntry> ParseEntry(const collector::config::TokenEntry& e) {
  TokenEntry entry;
  if (e.name().empty() || e.name().size() > 128) {
    return Fail(Error::InvalidArgument("name must be 1-128 characters"));
  }
  entry.name = e.name();
  auto hash = FromHex(e.sha256());
  if (!hash) return Fail(hash.error());
  entry.sha256 = *hash;
  auto role = RoleFromString(e.role());
  if (!role) return Fail(Error::InvalidArgument("role must be viewer, operator or admin"));
  entry.role = *role;
  auto scope = NamespaceScope::Parse({e.namespaces().begin(), e.namespaces().end()});
  if (!scope) return Fail(scope.error());
  entry.scope = std::move(*scope);
  return entry;
}

}  // namespace

std::string_view ToString(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kOperator:
      return "operator";
    case Role::kAdmin:
      return "admin";
  }
  return "viewer";
}

std::optional<Role> RoleFromString(std::string_view s) {
  if (s == "viewer") return Role::kViewer;
  if (s == "operator") return Role::kOperator;
  if (s == "admin") return Role::kAdmin;
  return std::nullopt;
}

NamespaceScope::NamespaceScope(std::vector<std::string> patterns) : patterns_(std::move(patterns)) {
  for (const auto& p : patterns_) everything_ = everything_ || p == "*";
}

Result<NamespaceScope> NamespaceScope::Parse(std::vector<std::string> patterns) {
  if (patterns.empty()) return Fail(Error::InvalidArgument("namespaces must not be empty"));
  if (patterns.size() > kMaxPatterns) {
    return Fail(Error::InvalidArgument("at most 64 namespace patterns"));
  }
  for (const auto& p : patterns) {
    bool ok = !p.empty() && p.size() <= 64;
    for (char c : p) ok = ok && IsPatternChar(c);
    if (!ok) {
      return Fail(Error::InvalidArgument("namespace pattern \"" + p.substr(0, 64) +
                                         "\" may use only a-z 0-9 . _ - * ?"));
    }
  }
  return NamespaceScope(std::move(patterns));
}

bool NamespaceScope::Contains(std::string_view ns) const {
  if (everything_) return true;
  std::string name(ns);
  for (const auto& p : patterns_) {
    if (fnmatch(p.c_str(), name.c_str(), 0) == 0) return true;
  }
  return false;
}

std::string NamespaceScope::Describe() const {
  std::string out;
  for (const auto& p : patterns_) out += (out.empty() ? "" : ", ") + p;
  return out.empty() ? "none" : out;
}

Result<TokenTable> TokenTable::Load(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Fail(Error::FromErrno(errno, "auth file " + file.string()));
  // Reads at most one byte past the limit: a huge file is refused without being read whole.
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxFileBytes) {
    return Fail(Error::InvalidArgument("auth file " + file.string() + " is larger than 4 MiB"));
  }
  return Parse(text, file.string());
}

Result<TokenTable> TokenTable::Parse(std::string_view json, std::string_view origin) {
  collector::config::AuthFile file;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto parsed = google::protobuf::util::JsonStringToMessage(std::string(json), &file, options);
  if (!parsed.ok()) {
    return Fail(Error::InvalidArgument("auth file " + std::string(origin) + ": " +
                                       std::string(parsed.message())));
  }
  if (static_cast<size_t>(file.tokens_size()) > kMaxTokens) {
    return Fail(
        Error::InvalidArgument("auth file " + std::string(origin) + ": at most 10000 tokens"));
  }
  TokenTable table;
  for (int i = 0; i < file.tokens_size(); ++i) {
    auto entry = ParseEntry(file.tokens(i));
    if (!entry) {
      return Fail(Error::InvalidArgument(
          "auth file " + std::string(origin) + ": token " + std::to_string(i + 1) + " (\"" +
          file.tokens(i).name().substr(0, 64) + "\"): " + entry.error().message()));
    }
    table.entries_.push_back(std::move(*entry));
  }
  return table;
}

const TokenEntry* TokenTable::Find(std::string_view token) const {
  auto digest = Digest(token);
  const TokenEntry* found = nullptr;
  for (const auto& e : entries_) {  // no early exit: every entry is compared
    bool same = CRYPTO_memcmp(digest.data(), e.sha256.data(), digest.size()) == 0;
    if (same && found == nullptr) found = &e;
  }
  return found;
}

Result<NewToken> GenerateToken() {
  std::array<unsigned char, 32> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    return Fail(Error::Internal("the system's random generator failed"));
  }
  NewToken out;
  out.token =
      "cbk_" + ToHex(std::string_view(reinterpret_cast<const char*>(random.data()), random.size()));
  out.sha256_hex = Sha256Hex(out.token);
  return out;
}

}  // namespace backup
