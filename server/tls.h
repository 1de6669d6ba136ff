// The transport side of backupd's security: TLS (and mutual TLS) server credentials whose
// certificate, key and client CA are watched and re-read by gRPC while serving, and the
// rule for which addresses may be served without them.
// Thread-safety: pure functions.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <grpcpp/security/server_credentials.h>

#include "common/error.h"

namespace backup {

struct TlsOptions {
  std::string cert_file;         // PEM chain; empty: no TLS
  std::string key_file;          // PEM private key of cert_file's first certificate
  std::string client_ca_file;    // PEM; set: clients must present a certificate it signed
  unsigned refresh_seconds = 1;  // how often the three files are re-read (rotation)

  bool enabled() const { return !cert_file.empty(); }
};

// Insecure credentials without TLS; otherwise TLS credentials over a file watcher. Checks
// first that the files can be read, parse, and that the key belongs to the certificate, so
// a mistake stops the start with a message instead of failing every handshake.
Result<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsOptions& options);

// True for 127.0.0.0/8, [::1], localhost and unix sockets: addresses only this host reaches.
bool IsLoopbackAddress(std::string_view listen);

}  // namespace backup
