#include "common/http_endpoint.h"

#include <httplib.h>

#include <chrono>

namespace backup {

Result<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(const std::string& host, int port,
                                                          std::function<std::string()> metrics) {
  std::unique_ptr<HttpEndpoint> endpoint(new HttpEndpoint());
  endpoint->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *endpoint->server_;
  // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, which would let a second
  // process bind the same port and take half of the scrapes.
  server.set_socket_options([](int sock) {
    const int yes = 1;
    (void)::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server.Get("/metrics",
             [metrics = std::move(metrics)](const httplib::Request&, httplib::Response& response) {
               response.set_content(metrics(), "text/plain; version=0.0.4; charset=utf-8");
             });
  // Everything else, whatever the method: 404 (cpp-httplib's default), no body.
  const int bound =
      port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    return Fail(
        Error::Unavailable("--http-listen: cannot listen on " + host + ":" + std::to_string(port)));
  }
  endpoint->port_ = bound;
  endpoint->thread_ = std::thread([&server] { server.listen_after_bind(); });
  // stop() only reaches a server that is listening: wait for it, so the destructor can.
  for (int i = 0; i < 5'000 && !server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return endpoint;
}

HttpEndpoint::~HttpEndpoint() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace backup
