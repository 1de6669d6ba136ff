// backupctl's connection to backupd and its output conventions: text for people,
// `-o json` (one JSON document per result) for scripts. Not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <type_traits>

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include "backup_jobs.grpc.pb.h"
#include "backup_policies.grpc.pb.h"
#include "collection_repo.grpc.pb.h"

namespace backup::cli {

// Exit codes: 0 success, 1 the call failed, 2 bad usage, 3 the job failed or was cancelled.
constexpr int kExitOk = 0;
constexpr int kExitRpcError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitJobFailed = 3;

struct ClientOptions {
  std::string server = "127.0.0.1:50051";
  std::string tls_ca;           // PEM: connect with TLS, trusting this CA
  std::string tls_cert;         // PEM client certificate (mutual TLS)
  std::string tls_key;          // its key
  std::string tls_server_name;  // the name to expect in the server's certificate
  std::string token_file;       // a file holding the bearer token
  std::string token;            // the bearer token itself (env BACKUPCTL_TOKEN)
  bool json = false;
  double timeout_s = 30;  // per unary call; watching has no deadline
};

class Client {
 public:
  // Connects lazily; a TLS or token file that cannot be read is reported by the first
  // call (and makes every call fail with UNAVAILABLE or UNAUTHENTICATED).
  explicit Client(const ClientOptions& options);

  collector::CollectionRepo::Stub& repo() { return *repo_; }
  collector::BackupJobs::Stub& jobs() { return *jobs_; }
  bool json() const { return options_.json; }
  // A context with the unary-call deadline.
  std::unique_ptr<grpc::ClientContext> Context() const;

  // Makes one unary call with the deadline, e.g.
  //   client.Call(&collector::BackupJobs::Stub::GetJob, request, response).
  // Returns kExitOk, or reports the failed call (as Report()) and returns its exit code.
  template <typename Stub, typename Request, typename Response>
  int Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
           const Request& request, Response& response) {
    auto context = Context();
    grpc::Status status;
    if constexpr (std::is_same_v<Stub, collector::CollectionRepo::Stub>) {
      status = (repo_.get()->*method)(context.get(), request, &response);
    } else if constexpr (std::is_same_v<Stub, collector::BackupPolicies::Stub>) {
      status = (policies_.get()->*method)(context.get(), request, &response);
    } else {
      status = (jobs_.get()->*method)(context.get(), request, &response);
    }
    return status.ok() ? kExitOk : Report(status);
  }

  // Prints a failed call to stderr ("backupctl: NOT_FOUND: collection prod/x not found")
  // and returns kExitRpcError.
  int Report(const grpc::Status& status) const;
  // Prints `message` as JSON on stdout.
  void PrintJson(const google::protobuf::Message& message) const;
  // Follows a job to its end with a progress view; returns kExitOk when it SUCCEEDED.
  int Watch(const std::string& job_id);

 private:
  // Adds the bearer token, if any, to a call.
  void Authorize(grpc::ClientContext& context) const;

  ClientOptions options_;
  std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<collector::CollectionRepo::Stub> repo_;
  std::unique_ptr<collector::BackupJobs::Stub> jobs_;
  std::unique_ptr<collector::BackupPolicies::Stub> policies_;
};

// Prints "backupctl: <message>" to stderr and returns kExitUsage.
int Usage(const std::string& message);
// "2026-11-28T02:30:00Z"; "-" for 0.
std::string UtcTime(int64_t unix_seconds);

// "prod/users" -> {prod, users}; "prod" -> {prod, ""} when allow_namespace_only.
bool ParseCollection(const std::string& text, collector::NamespacedName* out,
                     bool allow_namespace_only = false);
// "k=v" pairs into a map; false on a pair without '='.
bool ParsePairs(const std::vector<std::string>& pairs,
                google::protobuf::Map<std::string, std::string>* out);
// Unix seconds, or a duration back from now ("90s", "30m", "12h", "7d"); -1 when invalid.
int64_t ParseSince(const std::string& text);

}  // namespace backup::cli
