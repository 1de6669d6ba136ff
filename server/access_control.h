// Who is calling and what they may do. Every RPC handler starts with Authenticate() and
// checks Require() against the namespace it acts in before it reads or writes anything;
// calls that change something end with Audit(). The token table is swapped atomically by
// Reload() (SIGHUP), so calls in flight keep the table they started with.
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <grpcpp/security/auth_context.h>
#include <grpcpp/support/string_ref.h>

#include "common/error.h"
#include "server/token_table.h"

namespace backup {

struct Principal {
  std::string name;  // the token's name; else the client certificate's subject; else "anonymous"
  Role role = Role::kViewer;
  NamespaceScope scope;
  std::string peer;  // "ipv4:127.0.0.1:53412"
};

class AccessControl {
 public:
  using Metadata = std::multimap<grpc::string_ref, grpc::string_ref>;

  // Without an auth file every caller is an admin over all namespaces (a loopback or
  // otherwise trusted deployment); with one, every call needs a listed bearer token.
  static Result<std::unique_ptr<AccessControl>> Open(std::optional<std::filesystem::path> file);

  bool enabled() const { return file_.has_value(); }
  // Re-reads the auth file. On error the old table stays in force (and the error is
  // returned), so a bad edit cannot lock everyone out or let anyone in.
  Status Reload();

  // Returns the caller, or kUnauthenticated for a missing, malformed or unknown token.
  Result<Principal> Authenticate(const Metadata& metadata, const grpc::AuthContext* auth,
                                 std::string peer) const;

 private:
  explicit AccessControl(std::optional<std::filesystem::path> file) : file_(std::move(file)) {}
  std::shared_ptr<const TokenTable> table() const;

  std::optional<std::filesystem::path> file_;
  mutable std::mutex mu_;
  std::shared_ptr<const TokenTable> table_;  // guarded by mu_
};

// OK when `who` has at least `needed` on namespace `ns`; otherwise kPermissionDenied naming
// the call, the role and the namespace it would need.
Status Require(const Principal& who, Role needed, std::string_view ns, std::string_view call);

// The target of an audited call as "key=value" pairs. Values come from requests, so every
// byte outside [A-Za-z0-9._/:-] is written as \xNN: no value can end its pair or its line.
class AuditFields {
 public:
  AuditFields& Add(std::string_view key, std::string_view value);
  const std::string& str() const { return text_; }

 private:
  std::string text_;
};

// One audit line for a call that changes something: principal, peer, call, target
// (collection=prod/users backup=... job=...) and outcome.
void Audit(const Principal& who, std::string_view call, const AuditFields& target,
           const Status& outcome);

}  // namespace backup
