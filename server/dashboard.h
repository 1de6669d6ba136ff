// backupd's read-only dashboard on the HTTP side (--http-listen): GET / is the page (one
// HTML file with its script, built into the binary, nothing loaded from elsewhere), GET
// /api/state the JSON it polls every second (collector.dashboard.State). With an auth
// file, /api/state and /metrics need a bearer token of any role (the page asks for one
// and keeps it in the tab's sessionStorage); the page itself holds no data.
// Thread-safety: handlers are called concurrently from the HTTP threads.
#pragma once

#include <map>
#include <string>

#include "common/http_endpoint.h"
#include "server/access_control.h"
#include "server/service_context.h"

namespace backup {

class Dashboard {
 public:
  explicit Dashboard(const ServiceContext& ctx) : ctx_(ctx) {}

  // The dashboard's routes: "/" and "/api/state".
  std::map<std::string, HttpHandler> Routes();
  // Wraps `inner` so that, with an auth file, it answers 401 without a valid token.
  HttpHandler Guard(HttpHandler inner) const;

  // The state `who` may see, as JSON.
  Result<std::string> StateJson(const Principal& who);

 private:
  const ServiceContext& ctx_;
};

}  // namespace backup
