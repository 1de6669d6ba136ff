// The HTTP side of backupd and backup-worker (--http-listen HOST:PORT; off by default):
// GET /metrics answers what `metrics` renders at that moment, in the Prometheus text
// format. cpp-httplib (Debian's libcpp-httplib) serves it on threads of its own; nothing
// else is served, and only GET.
//
// Thread-safety: Start and the destructor from one thread; `metrics` is called from the
// server's threads and must be thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/error.h"

namespace httplib {
class Server;
}

namespace backup {

class HttpEndpoint {
 public:
  // Binds HOST:PORT (port 0: any free one) before returning, so a bad address fails here.
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

}  // namespace backup
