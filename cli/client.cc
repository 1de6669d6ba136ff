#include "cli/client.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include <google/protobuf/util/json_util.h>

#include "cli/progress_view.h"

namespace backup::cli {

namespace {

// The whole of a small file, without a trailing newline; "" when it cannot be read.
std::string ReadSmallFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "backupctl: cannot read %s %s\n", std::string(what).c_str(), path.c_str());
    return "";
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string s = text.str().substr(0, 1 << 20);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::shared_ptr<grpc::Channel> Connect(const ClientOptions& o) {
  if (o.tls_ca.empty() && o.tls_cert.empty()) {
    return grpc::CreateChannel(o.server, grpc::InsecureChannelCredentials());
  }
  grpc::SslCredentialsOptions ssl;
  if (!o.tls_ca.empty()) ssl.pem_root_certs = ReadSmallFile(o.tls_ca, "TLS CA");
  if (!o.tls_cert.empty()) ssl.pem_cert_chain = ReadSmallFile(o.tls_cert, "TLS certificate");
  if (!o.tls_key.empty()) ssl.pem_private_key = ReadSmallFile(o.tls_key, "TLS key");
  grpc::ChannelArguments args;
  if (!o.tls_server_name.empty()) args.SetSslTargetNameOverride(o.tls_server_name);
  return grpc::CreateCustomChannel(o.server, grpc::SslCredentials(ssl), args);
}

}  // namespace

Client::Client(const ClientOptions& options)
    : options_(options),
      token_(!options.token_file.empty() ? ReadSmallFile(options.token_file, "token file")
                                         : options.token),
      channel_(Connect(options)),
      repo_(collector::CollectionRepo::NewStub(channel_)),
      jobs_(collector::BackupJobs::NewStub(channel_)),
      policies_(collector::BackupPolicies::NewStub(channel_)) {}

void Client::Authorize(grpc::ClientContext& context) const {
  if (!token_.empty()) context.AddMetadata("authorization", "Bearer " + token_);
}

std::unique_ptr<grpc::ClientContext> Client::Context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  Authorize(*ctx);
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(options_.timeout_s * 1000)));
  return ctx;
}

int Client::Report(const grpc::Status& status) const {
  static const char* kNames[] = {"OK",
                                 "CANCELLED",
                                 "UNKNOWN",
                                 "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED",
                                 "NOT_FOUND",
                                 "ALREADY_EXISTS",
                                 "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION",
                                 "ABORTED",
                                 "OUT_OF_RANGE",
                                 "UNIMPLEMENTED",
                                 "INTERNAL",
                                 "UNAVAILABLE",
                                 "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  int code = status.error_code();
  std::string message = status.error_message();
  if (code == grpc::StatusCode::UNAVAILABLE && message.find("connect") != std::string::npos) {
    message += " (is backupd running at " + options_.server + "?)";
  }
  std::fprintf(stderr, "backupctl: %s: %s\n", code >= 0 && code <= 16 ? kNames[code] : "ERROR",
               message.c_str());
  return kExitRpcError;
}

void Client::PrintJson(const google::protobuf::Message& message) const {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.always_print_primitive_fields = true;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, opts);
  std::cout << out << std::flush;
}

namespace {

// What did not come along, and why: a backup's skipped entries, a restore's entries not
// given back as they were (names are escaped by the server).
void PrintOmissions(const collector::Job& last) {
  if (last.has_backup_result() && last.backup_result().files_skipped() > 0) {
    const auto& b = last.backup_result();
    std::printf(
        "skipped %lld entries (sockets, devices, or files that changed into something "
        "else while backed up):\n",
        static_cast<long long>(b.files_skipped()));
    for (const auto& name : b.skipped_files()) std::printf("  %s\n", name.c_str());
    if (b.files_skipped() > b.skipped_files_size()) {
      std::printf("  ... and %lld more\n",
                  static_cast<long long>(b.files_skipped() - b.skipped_files_size()));
    }
  }
  if (last.has_restore_result()) {
    const auto& r = last.restore_result();
    if (r.owners_not_restored() > 0) {
      std::printf(
          "%lld entries keep the service's owner (setuid/setgid dropped): it may not give "
          "them theirs\n",
          static_cast<long long>(r.owners_not_restored()));
    }
    for (const auto& e : r.entries_not_restored()) {
      std::printf("not restored as it was: %s\n", e.c_str());
    }
  }
}

}  // namespace

int Client::Watch(const std::string& job_id) {
  grpc::ClientContext ctx;  // no deadline: a backup may run for hours
  Authorize(ctx);
  collector::WatchJobRequest request;
  request.set_job_id(job_id);
  auto reader = jobs_->WatchJob(&ctx, request);
  ProgressView view(json() ? stderr : stdout);
  collector::Job job, last;
  bool any = false;
  while (reader->Read(&job)) {
    view.Update(job);
    last = job;
    any = true;
  }
  view.Finish();
  grpc::Status status = reader->Finish();
  if (!status.ok()) return Report(status);
  if (!any) return Report(grpc::Status(grpc::StatusCode::INTERNAL, "watch ended without a job"));
  if (json()) {
    PrintJson(last);
  } else if (last.state() == collector::SUCCEEDED) {
    std::printf("job %s SUCCEEDED", last.job_id().c_str());
    if (last.has_backup_result()) {
      const auto& b = last.backup_result().backup();
      std::printf(": backup %s, %s, %lld records, %lld files, at %s", b.backup_id().c_str(),
                  HumanBytes(b.size_bytes()).c_str(), static_cast<long long>(b.record_count()),
                  static_cast<long long>(b.file_count()), b.storage_path().c_str());
    }
    if (last.has_restore_result()) {
      const auto& r = last.restore_result();
      std::printf(": restored %s, %lld records, %lld files", r.collection_id().c_str(),
                  static_cast<long long>(r.records_restored()),
                  static_cast<long long>(r.files_restored()));
    }
    std::printf("\n");
    PrintOmissions(last);
  } else {
    std::fprintf(stderr, "job %s %s: %s: %s\n", last.job_id().c_str(),
                 collector::JobState_Name(last.state()).c_str(),
                 collector::Status::Code_Name(last.error().code()).c_str(),
                 last.error().message().c_str());
  }
  return last.state() == collector::SUCCEEDED ? kExitOk : kExitJobFailed;
}

bool ParseCollection(const std::string& text, collector::NamespacedName* out,
                     bool allow_namespace_only) {
  auto slash = text.find('/');
  if (slash == std::string::npos) {
    if (!allow_namespace_only || text.empty()) return false;
    out->set_namespace_(text);
    return true;
  }
  out->set_namespace_(text.substr(0, slash));
  out->set_name(text.substr(slash + 1));
  return true;
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "backupctl: %s\n", message.c_str());
  return kExitUsage;
}

std::string UtcTime(int64_t unix_seconds) {
  if (unix_seconds == 0) return "-";
  auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool ParsePairs(const std::vector<std::string>& pairs,
                google::protobuf::Map<std::string, std::string>* out) {
  for (const std::string& p : pairs) {
    auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) return false;
    (*out)[p.substr(0, eq)] = p.substr(eq + 1);
  }
  return true;
}

int64_t ParseSince(const std::string& text) {
  if (text.empty()) return -1;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || v < 0) return -1;
  std::string unit(end);
  if (unit.empty()) return v;
  int64_t scale = unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 0;
  if (scale == 0) return -1;
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return now - v * scale;
}

}  // namespace backup::cli
