#include "common/names.h"

#include <system_error>

namespace backup {
namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxNameBytes = 255;

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

std::string Printable(std::string_view v) {
  std::string out;
  for (char c : v.substr(0, 64)) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += "\\x" + std::to_string(static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  if (v.size() > 64) out += "...";
  return out;
}

// True when `path` equals `root` or lies below it (both lexically normal, absolute).
bool IsWithin(const fs::path& path, const fs::path& root) {
  auto [r, p] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  if (r == root.end()) return true;
  // A trailing empty element of "root/" matches too.
  return std::next(r) == root.end() && r->empty();
}

}  // namespace

Status ValidateName(std::string_view value, std::string_view what) {
  const std::string rule =
      " must be 1-255 characters of letters, digits, '.', '_' or '-', starting with a "
      "letter or digit";
  if (value.empty()) return Fail(Error::InvalidArgument(std::string(what) + " is empty;" + rule));
  if (value.size() > kMaxNameBytes) {
    return Fail(Error::InvalidArgument(std::string(what) + " is " + std::to_string(value.size()) +
                                       " bytes long;" + rule));
  }
  bool ok = IsAlnum(value.front());
  for (char c : value) ok = ok && (IsAlnum(c) || c == '.' || c == '_' || c == '-');
  if (!ok) {
    return Fail(Error::InvalidArgument(std::string(what) + " \"" + Printable(value) +
                                       "\" is invalid;" + rule));
  }
  return {};
}

Status ValidateCollectionName(const CollectionName& c) {
  BACKUP_TRY(ValidateName(c.ns, "collection namespace"), "invalid collection");
  BACKUP_TRY(ValidateName(c.name, "collection name"), "invalid collection");
  return {};
}

Result<fs::path> ConfinePath(std::string_view requested, const std::vector<fs::path>& roots) {
  if (requested.empty()) return Fail(Error::InvalidArgument("path is empty"));
  if (requested.find('\0') != std::string_view::npos) {
    return Fail(Error::InvalidArgument("path contains a NUL byte"));
  }
  fs::path p(requested);
  if (p.is_relative()) p = roots.front() / p;
  std::error_code ec;
  // weakly_canonical resolves every symlink in the part of the path that exists, so a
  // link inside a root that points elsewhere is followed before the check below.
  fs::path resolved = fs::weakly_canonical(p, ec);
  if (ec)
    return Fail(Error::InvalidArgument("cannot resolve path " + p.string() + ": " + ec.message()));
  for (const fs::path& root : roots) {
    fs::path canonical_root = fs::weakly_canonical(root, ec);
    if (ec) continue;
    if (IsWithin(resolved, canonical_root) && resolved != canonical_root) return resolved;
  }
  std::string allowed;
  for (const fs::path& root : roots) allowed += (allowed.empty() ? "" : ", ") + root.string();
  return Fail(Error::PermissionDenied("path " + std::string(requested) + " resolves to " +
                                      resolved.string() + ", outside the allowed backup roots (" +
                                      allowed + ")"));
}

}  // namespace backup
