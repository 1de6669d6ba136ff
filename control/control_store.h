// The control store: the job queue, the catalogue and the backup policies of one control
// database, behind one object so a job row and its backup row change in one transaction.
// SqliteControlStore (a file under the data root, one host) and PostgresControlStore (a
// PostgreSQL server, a fleet of hosts) implement it.
//
// Thread-safety: implementations are safe to call from any thread.
#pragma once

#include <string>
#include <string_view>

#include "control/catalog.h"
#include "control/job_queue.h"
#include "control/policy_store.h"

namespace backup {

class ControlStore : public JobQueue, public Catalog, public PolicyStore {};

// True when `spec` (the --control flag) names a PostgreSQL server: a postgres:// or
// postgresql:// URI.
inline bool IsPostgresSpec(std::string_view spec) {
  return spec.starts_with("postgres://") || spec.starts_with("postgresql://");
}

// `spec` fit for a log line or an error: a password in the URI's user part or in a
// password= parameter is replaced by "***".
inline std::string RedactConnInfo(std::string_view spec) {
  std::string out(spec);
  const size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    const size_t host_end = out.find_first_of("/?", scheme + 3);
    const size_t at = out.rfind('@', host_end);
    if (at != std::string::npos && at > scheme) {
      const size_t colon = out.find(':', scheme + 3);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  for (size_t p = out.find("password="); p != std::string::npos; p = out.find("password=", p + 1)) {
    const size_t end = out.find_first_of("& ", p);
    out.replace(p + 9, (end == std::string::npos ? out.size() : end) - p - 9, "***");
  }
  return out;
}

}  // namespace backup
