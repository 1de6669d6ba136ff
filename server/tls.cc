#include "server/tls.h"

#include <cstdio>

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace backup {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

Result<File> OpenPem(const std::string& path, std::string_view what) {
  File f(std::fopen(path.c_str(), "re"));
  if (!f) return Fail(Error::FromErrno(errno, std::string(what) + " " + path));
  return f;
}

// The certificate and key parse as PEM and belong together; the CA file holds a certificate.
Status CheckTlsFiles(const TlsOptions& o) {
  if (o.key_file.empty()) return Fail(Error::InvalidArgument("--tls-cert needs --tls-key"));
  auto cert_file = OpenPem(o.cert_file, "TLS certificate");
  if (!cert_file) return Fail(cert_file.error());
  std::unique_ptr<X509, void (*)(X509*)> cert(
      PEM_read_X509(cert_file->get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) return Fail(Error::InvalidArgument("TLS certificate " + o.cert_file + " is not PEM"));
  auto key_file = OpenPem(o.key_file, "TLS key");
  if (!key_file) return Fail(key_file.error());
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key(
      PEM_read_PrivateKey(key_file->get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!key) return Fail(Error::InvalidArgument("TLS key " + o.key_file + " is not a PEM key"));
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return Fail(
        Error::InvalidArgument("TLS key " + o.key_file + " does not belong to " + o.cert_file));
  }
  if (!o.client_ca_file.empty()) {
    auto ca_file = OpenPem(o.client_ca_file, "TLS client CA");
    if (!ca_file) return Fail(ca_file.error());
    std::unique_ptr<X509, void (*)(X509*)> ca(
        PEM_read_X509(ca_file->get(), nullptr, nullptr, nullptr), X509_free);
    if (!ca) {
      return Fail(Error::InvalidArgument("TLS client CA " + o.client_ca_file + " is not PEM"));
    }
  }
  return {};
}

}  // namespace

Result<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsOptions& o) {
  if (!o.enabled()) {
    if (!o.key_file.empty() || !o.client_ca_file.empty()) {
      return Fail(Error::InvalidArgument("--tls-key and --tls-client-ca need --tls-cert"));
    }
    return grpc::InsecureServerCredentials();
  }
  BACKUP_TRY(CheckTlsFiles(o), "tls");
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider;
  if (o.client_ca_file.empty()) {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        o.key_file, o.cert_file, o.refresh_seconds);
  } else {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        o.key_file, o.cert_file, o.client_ca_file, o.refresh_seconds);
  }
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!o.client_ca_file.empty()) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

bool IsLoopbackAddress(std::string_view listen) {
  if (listen.rfind("unix:", 0) == 0) return true;
  auto colon = listen.rfind(':');
  std::string_view host = colon == std::string_view::npos ? listen : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace backup
