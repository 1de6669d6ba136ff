#include "tests/pg_cluster.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "control/postgres/pg.h"
#include "tests/loopback.h"
#include "tests/test_util.h"

namespace backup::testing {
namespace {

constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";

// Runs `command` as the postgres user when this process is root.
std::pair<std::string, int> AsPostgres(const std::string& command) {
  if (geteuid() == 0) return Shell("runuser -u postgres -- " + command);
  return Shell(command);
}

}  // namespace

Result<std::unique_ptr<PgCluster>> PgCluster::Start(bool adopt) {
  std::unique_ptr<PgCluster> cluster(new PgCluster());
  if (const char* given = std::getenv("BACKUP_TEST_POSTGRES"); adopt && given && *given) {
    std::string uri = given;
    // Strip a database name, if any: each test names its own.
    const size_t slash = uri.find('/', uri.find("://") + 3);
    cluster->base_uri_ = slash == std::string::npos ? uri : uri.substr(0, slash);
    return cluster;
  }
  char templ[] = "/tmp/backup-pg-XXXXXX";
  if (mkdtemp(templ) == nullptr) return Fail(Error::FromErrno(errno, "mkdtemp"));
  cluster->dir_ = templ;
  if (geteuid() == 0) {
    if (auto [out, rc] = Shell("chown postgres: " + cluster->dir_); rc != 0) {
      return Fail(Error::Unavailable("chown postgres " + cluster->dir_ + ": " + out));
    }
  }
  cluster->port_ = FreeLoopbackPort();
  auto [out, rc] = AsPostgres(std::string(kBinDir) + "/initdb -N -A trust -U postgres -E UTF8 " +
                              "--no-locale -D " + cluster->dir_ + "/data");
  if (rc != 0) return Fail(Error::Unavailable("initdb: " + out));
  BACKUP_TRY(cluster->StartAgain(), "start PostgreSQL");
  cluster->base_uri_ = "postgresql://postgres@127.0.0.1:" + std::to_string(cluster->port_);
  return cluster;
}

PgCluster::~PgCluster() {
  if (dir_.empty()) return;
  (void)Ctl("stop -m immediate");
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

Status PgCluster::Ctl(const std::string& args) {
  auto [out, rc] = AsPostgres(std::string(kBinDir) + "/pg_ctl -D " + dir_ + "/data -l " + dir_ +
                              "/server.log -w -t 60 " + args);
  if (rc != 0) return Fail(Error::Unavailable("pg_ctl " + args + ": " + out));
  return {};
}

Status PgCluster::StartAgain() {
  // fsync stays on: acknowledged commits must survive, as in production.
  return Ctl("-o \"-p " + std::to_string(port_) + " -k " + dir_ +
             " -c listen_addresses=127.0.0.1 -c max_connections=200\" start");
}

Status PgCluster::Stop() { return Ctl("stop -m immediate"); }

Status PgCluster::Restart() {
  return Ctl("-o \"-p " + std::to_string(port_) + " -k " + dir_ +
             " -c listen_addresses=127.0.0.1 -c max_connections=200\" restart -m fast");
}

std::string PgCluster::ConnInfo(const std::string& database) const {
  return base_uri_ + "/" + database;
}

Status PgCluster::EnsureDatabase(const std::string& database) {
  auto admin = pg::Connection::Open(ConnInfo("postgres"));
  if (!admin) return Fail(admin.error());
  auto found =
      admin->Query("SELECT 1 FROM pg_database WHERE datname = $1", {std::string_view(database)});
  if (!found) return Fail(found.error());
  if (found->Count() > 0) return {};
  // A database name cannot be a parameter; the tests' names are [a-z0-9_] only.
  for (char c : database) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '_')) {
      return Fail(Error::InvalidArgument("test database name " + database));
    }
  }
  return admin->Exec("CREATE DATABASE " + database);
}

PgCluster* SharedPgCluster() {
  static std::unique_ptr<PgCluster> cluster = [] {
    auto started = PgCluster::Start();
    if (!started) {
      spdlog::error("PostgreSQL for the tests: {}", started.error().message());
      return std::unique_ptr<PgCluster>();
    }
    return std::move(*started);
  }();
  return cluster.get();
}

}  // namespace backup::testing
