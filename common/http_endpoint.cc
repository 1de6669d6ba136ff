#include "common/http_endpoint.h"

#include <httplib.h>

#include <chrono>
#include <filesystem>

namespace backup {
namespace {

std::unique_ptr<httplib::Server> MakeServer(const HttpEndpointOptions& options) {
  if (options.tls_cert.empty() && options.tls_key.empty()) {
    return std::make_unique<httplib::Server>();
  }
  return std::make_unique<httplib::SSLServer>(options.tls_cert.c_str(), options.tls_key.c_str());
}

}  // namespace

Result<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(
    const HttpEndpointOptions& options, const std::map<std::string, HttpHandler>& routes) {
  const std::string where = options.host + ":" + std::to_string(options.port);
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return Fail(Error::InvalidArgument("--http-listen: TLS needs both a certificate and a key"));
  }
  std::unique_ptr<HttpEndpoint> endpoint(new HttpEndpoint());
  endpoint->server_ = MakeServer(options);
  httplib::Server& server = *endpoint->server_;
  if (!server.is_valid()) {
    return Fail(Error::InvalidArgument("--http-listen: cannot use the TLS certificate " +
                                       options.tls_cert + " with key " + options.tls_key));
  }
  // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, which would let a second
  // process bind the same port and take half of the requests.
  server.set_socket_options([](int sock) {
    const int yes = 1;
    (void)::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  for (const auto& [path, handler] : routes) {
    server.Get(
        path, [handler = handler](const httplib::Request& request, httplib::Response& response) {
          const HttpAnswer answer = handler(
              {.path = request.path,
               .authorization = request.get_header_value("Authorization"),
               .peer = "ipv4:" + request.remote_addr + ":" + std::to_string(request.remote_port)});
          response.status = answer.status;
          response.set_header("Cache-Control", "no-store");
          response.set_header("X-Content-Type-Options", "nosniff");
          response.set_content(answer.body, answer.content_type);
        });
  }
  // Everything else, whatever the method: 404 (cpp-httplib's default), no body.
  const int bound = options.port == 0
                        ? server.bind_to_any_port(options.host)
                        : (server.bind_to_port(options.host, options.port) ? options.port : -1);
  if (bound < 0) return Fail(Error::Unavailable("--http-listen: cannot listen on " + where));
  endpoint->port_ = bound;
  endpoint->thread_ = std::thread([&server] { server.listen_after_bind(); });
  // stop() only reaches a server that is listening: wait for it, so the destructor can.
  for (int i = 0; i < 5'000 && !server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return endpoint;
}

Result<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(const std::string& host, int port,
                                                          std::function<std::string()> metrics) {
  std::map<std::string, HttpHandler> routes;
  routes["/metrics"] = [metrics = std::move(metrics)](const HttpRequest&) {
    return HttpAnswer{.content_type = kPrometheusContentType, .body = metrics()};
  };
  return Start({.host = host, .port = port}, routes);
}

HttpEndpoint::~HttpEndpoint() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

bool IsLoopbackHost(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost";
}

Result<std::pair<std::string, int>> ParseHostPort(const std::string& address) {
  const auto colon = address.rfind(':');
  const auto bad = [&](const std::string& why) {
    return Fail(Error::InvalidArgument("\"" + address.substr(0, 64) + "\": " + why));
  };
  if (colon == std::string::npos || colon == 0) return bad("want HOST:PORT");
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port_text = address.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port_text) > 65'535) {
    return bad("the port must be 0-65535");
  }
  return std::make_pair(host, std::stoi(port_text));
}

}  // namespace backup
