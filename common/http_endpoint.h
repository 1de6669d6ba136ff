// The HTTP side of backupd and backup-worker (--http-listen HOST:PORT; off by default):
// GET on a fixed set of paths (/metrics, and in backupd the dashboard), each answered by
// its handler at that moment. cpp-httplib (Debian's libcpp-httplib) serves them on threads
// of its own, over TLS when given a certificate; every other path or method gets 404.
//
// Thread-safety: Start and the destructor from one thread; handlers are called from the
// server's threads, concurrently, and must be thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "common/error.h"

namespace httplib {
class Server;
}

namespace backup {

struct HttpRequest {
  std::string path;
  std::string authorization;  // the Authorization header, "" when absent
  std::string peer;           // "ipv4:127.0.0.1:53412", as gRPC names peers
};

struct HttpAnswer {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpAnswer(const HttpRequest&)>;

struct HttpEndpointOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port (see port())
  // PEM files: serve HTTPS with them. Both empty: plain HTTP.
  std::string tls_cert, tls_key;
};

class HttpEndpoint {
 public:
  // Binds before returning, so a bad address or unusable certificate fails here.
  static Result<std::unique_ptr<HttpEndpoint>> Start(
      const HttpEndpointOptions& options, const std::map<std::string, HttpHandler>& routes);
  // Plain HTTP with GET /metrics only, answered by `metrics` (text format 0.0.4).
  static Result<std::unique_ptr<HttpEndpoint>> Start(const std::string& host, int port,
                                                     std::function<std::string()> metrics);
  ~HttpEndpoint();  // stops serving; in-flight requests finish
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  int port() const { return port_; }

 private:
  HttpEndpoint() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// The Content-Type of the Prometheus text format.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// "127.0.0.1:9464", "[::1]:0", "localhost:9464" -> host and port. kInvalidArgument otherwise.
Result<std::pair<std::string, int>> ParseHostPort(const std::string& address);
// 127.0.0.1, ::1 and localhost.
bool IsLoopbackHost(const std::string& host);

}  // namespace backup
