#include "tests/bench/bench_server.h"

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "common/ids.h"
#include "common/sqlite.h"

namespace backup::bench {
namespace fs = std::filesystem;

Server::Server(const fs::path& data, int workers, StoreSetOptions stores,
               const std::string& control) {
  BackupServerOptions o;
  o.host.control = control;
  o.host.stores = std::move(stores);
  o.host.data_dir = data;
  o.listen = "127.0.0.1:0";
  o.host.pool.threads = workers;
  auto s = BackupServer::Start(o);
  if (!s) {
    std::fprintf(stderr, "backup-bench: %s\n", s.error().message().c_str());
    std::exit(1);
  }
  server = std::move(*s);
  channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server->port()),
                                grpc::InsecureChannelCredentials());
  repo = collector::CollectionRepo::NewStub(channel);
  jobs = collector::BackupJobs::NewStub(channel);
  layout = std::make_unique<DataLayout>(data);
}

void Server::Collection(const std::string& ns, const std::string& name, int64_t rows, int payload) {
  collector::CreateCollectionRequest r;
  r.mutable_collection()->set_namespace_(ns);
  r.mutable_collection()->set_name(name);
  collector::CreateCollectionResponse resp;
  grpc::ClientContext ctx;
  if (auto s = repo->CreateCollection(&ctx, r, &resp); !s.ok()) {
    std::fprintf(stderr, "backup-bench: create %s/%s: %s\n", ns.c_str(), name.c_str(),
                 s.error_message().c_str());
    std::exit(1);
  }
  if (rows == 0) return;
  auto db = sql::Database::Open(layout->CollectionDb({ns, name}).string(), {});
  Status filled = db ? db->Run(
                           "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                           "WHERE i < ?1) INSERT INTO records (id, proto_data, labels) "
                           "SELECT printf('r%010d', i), randomblob(?2), "
                           "'{\"i\":' || i || '}' FROM n",
                           {rows, static_cast<int64_t>(payload)})
                     : Status(Fail(db.error()));
  if (!filled) {
    std::fprintf(stderr, "backup-bench: fill %s/%s: %s\n", ns.c_str(), name.c_str(),
                 filled.error().message().c_str());
    std::exit(1);
  }
}

collector::BackupCollectionResponse Server::Backup(const std::string& ns, const std::string& name,
                                                   bool files, const std::string& dest,
                                                   const std::string& store) {
  collector::BackupCollectionRequest r;
  r.set_dest_path(dest);
  r.set_store(store);
  r.mutable_collection()->set_namespace_(ns);
  r.mutable_collection()->set_name(name);
  r.set_include_files(files);
  r.set_wait(true);
  collector::BackupCollectionResponse resp;
  grpc::ClientContext ctx;
  auto s = repo->BackupCollection(&ctx, r, &resp);
  if (!s.ok() || resp.job().state() != collector::SUCCEEDED) {
    std::fprintf(stderr, "backup-bench: backup failed: %s\n", s.error_message().c_str());
    std::exit(1);
  }
  return resp;
}

void Cleanup(const fs::path& root) {
  std::error_code ec;
  fs::remove_all(root, ec);
}

fs::path FreshDir(const Settings& s, const std::string& name) {
  fs::path p = s.dir / ("backup-bench-" + name + "-" + RandomHex(3));
  fs::create_directories(p);
  return p;
}

void LogError(const std::string& scenario, const std::string& message,
              std::atomic<int64_t>& errors) {
  const int64_t n = ++errors;
  if (n <= 10 || n % 1000 == 0) {
    static std::mutex mu;
    std::lock_guard lock(mu);
    std::fprintf(stderr, "backup-bench: %s: error %lld: %s\n", scenario.c_str(),
                 static_cast<long long>(n), message.c_str());
  }
}

}  // namespace backup::bench
