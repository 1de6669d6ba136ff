#include "server/access_control.h"

#include <grpc/grpc_security_constants.h>
#include <spdlog/spdlog.h>

namespace backup {
namespace {

constexpr std::string_view kBearer = "Bearer ";
constexpr size_t kMaxTokenBytes = 512;

// The verified client certificate's subject ("CN=ci,O=example"), or "" without one.
std::string CertificateSubject(const grpc::AuthContext* auth) {
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return "";
  for (const char* property : {GRPC_X509_SUBJECT_PROPERTY_NAME, GRPC_X509_CN_PROPERTY_NAME}) {
    auto values = auth->FindPropertyValues(property);
    if (!values.empty()) return std::string(values.front().data(), values.front().size());
  }
  return "";
}

// `text` for one log line: control characters, quotes and backslashes escaped (a request
// must not be able to forge a second audit line), at most 300 bytes kept.
std::string Printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 300)) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '"' || c == '\\') {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  if (text.size() > 300) out += "...";
  return out;
}

}  // namespace

Result<std::unique_ptr<AccessControl>> AccessControl::Open(
    std::optional<std::filesystem::path> file) {
  std::unique_ptr<AccessControl> access(new AccessControl(std::move(file)));
  if (access->enabled()) BACKUP_TRY(access->Reload(), "auth");
  return access;
}

Status AccessControl::Reload() {
  if (!file_) return {};
  auto table = TokenTable::Load(*file_);
  if (!table) return Fail(table.error());
  size_t count = table->size();
  {
    std::lock_guard lock(mu_);
    table_ = std::make_shared<const TokenTable>(std::move(*table));
  }
  spdlog::info("auth file {} loaded: {} tokens", file_->string(), count);
  return {};
}

std::shared_ptr<const TokenTable> AccessControl::table() const {
  std::lock_guard lock(mu_);
  return table_;
}

Result<Principal> AccessControl::Authenticate(const Metadata& metadata,
                                              const grpc::AuthContext* auth,
                                              std::string peer) const {
  Principal who;
  who.peer = std::move(peer);
  std::string subject = CertificateSubject(auth);
  if (!enabled()) {
    who.name = subject.empty() ? "anonymous" : subject;
    who.role = Role::kAdmin;
    who.scope = NamespaceScope::Everything();
    return who;
  }
  auto header = metadata.find("authorization");
  if (header == metadata.end()) {
    return Fail(
        Error::Unauthenticated("this server needs a bearer token (authorization "
                               "metadata; backupctl --token-file)"));
  }
  std::string_view value(header->second.data(), header->second.size());
  if (value.substr(0, kBearer.size()) != kBearer ||
      value.size() > kBearer.size() + kMaxTokenBytes) {
    return Fail(Error::Unauthenticated("authorization must be \"Bearer <token>\""));
  }
  auto tokens = table();
  const TokenEntry* entry = tokens->Find(value.substr(kBearer.size()));
  if (entry == nullptr) return Fail(Error::Unauthenticated("unknown token"));
  who.name = subject.empty() ? entry->name : entry->name + " (" + subject + ")";
  who.role = entry->role;
  who.scope = entry->scope;
  return who;
}

Status Require(const Principal& who, Role needed, std::string_view ns, std::string_view call) {
  if (who.role >= needed && who.scope.Contains(ns)) return {};
  return Fail(Error::PermissionDenied(
      std::string(call) + " in namespace \"" + std::string(ns) + "\" needs role " +
      std::string(ToString(needed)) + " on \"" + std::string(ns) + "\"; " + who.name +
      " has role " + std::string(ToString(who.role)) + " on " + who.scope.Describe()));
}

AuditFields& AuditFields::Add(std::string_view key, std::string_view value) {
  if (!text_.empty()) text_ += ' ';
  text_ += key;
  text_ += '=';
  for (char c : value.substr(0, 200)) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '/' || c == ':' || c == '-';
    text_ += plain ? std::string(1, c) : fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
  }
  if (value.size() > 200) text_ += "...";
  return *this;
}

void Audit(const Principal& who, std::string_view call, const AuditFields& target,
           const Status& outcome) {
  spdlog::info("audit call={} principal=\"{}\" peer={} {} outcome={}{}", call, Printable(who.name),
               Printable(who.peer), target.str(), outcome ? "OK" : CodeName(outcome.error().code()),
               outcome ? "" : " error=\"" + Printable(outcome.error().message()) + "\"");
}

}  // namespace backup
