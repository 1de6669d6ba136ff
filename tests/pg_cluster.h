// A throwaway PostgreSQL 15 cluster for the tests: initdb into a fresh folder under /tmp
// (as the postgres user when the tests run as root, since PostgreSQL refuses to run as
// root), pg_ctl start on a free loopback port (and a socket in the folder), stopped and
// removed at the end. With BACKUP_TEST_POSTGRES=postgres://... set, the tests use that
// existing server instead (each test still gets a database of its own).
//
// Thread-safety: one controlling thread.
#pragma once

#include <memory>
#include <string>

#include "common/error.h"

namespace backup::testing {

class PgCluster {
 public:
  // Starts a cluster (or, with `adopt`, uses BACKUP_TEST_POSTGRES when set). kUnavailable
  // with initdb's or pg_ctl's output when it cannot. Tests that restart the server start
  // their own.
  static Result<std::unique_ptr<PgCluster>> Start(bool adopt = true);
  ~PgCluster();

  // A connection string for `database` on this cluster.
  std::string ConnInfo(const std::string& database) const;
  // Creates `database` unless it exists.
  Status EnsureDatabase(const std::string& database);
  // Restarts the server (pg_ctl restart -m fast): every connection is cut. Only for a
  // cluster this object started.
  Status Restart();
  // Stops the server at once (pg_ctl stop -m immediate), and starts it again.
  Status Stop();
  Status StartAgain();
  int port() const { return port_; }

 private:
  PgCluster() = default;
  Status Ctl(const std::string& args);

  std::string dir_;       // empty for an adopted server
  std::string base_uri_;  // postgres://user@host:port (no database)
  int port_ = 0;
};

// The cluster shared by every test of this binary, started at first use (and stopped at
// exit). Null, with the reason logged, when none can be started.
PgCluster* SharedPgCluster();

}  // namespace backup::testing
