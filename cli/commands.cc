#include "cli/commands.h"

#include <cstdio>
#include <ctime>

#include <google/protobuf/util/json_util.h>

#include "auth_file.pb.h"
#include "cli/progress_view.h"
#include "server/token_table.h"

namespace backup::cli {
namespace {

std::string BackupStateName(collector::BackupState s) {
  std::string name = collector::BackupState_Name(s);
  return name.rfind("BACKUP_", 0) == 0 ? name.substr(7) : name;
}

void PrintJobLine(const collector::Job& j) {
  std::printf(
      "%-20s %-8s %-10s %-30s %-24s %3.0f%% %-9s attempt %d/%d\n", j.job_id().c_str(),
      collector::JobKind_Name(j.kind()).c_str(), collector::JobState_Name(j.state()).c_str(),
      (j.collection().namespace_() + "/" + j.collection().name()).c_str(), j.backup_id().c_str(),
      j.progress().bytes_total() > 0 ? 100.0 * static_cast<double>(j.progress().bytes_done()) /
                                           static_cast<double>(j.progress().bytes_total())
                                     : 0.0,
      j.progress().phase().c_str(), j.attempt(), j.max_attempts());
}

}  // namespace

int CollectionsCreate(Client& client, const CollectionArgs& args) {
  collector::CreateCollectionRequest request;
  collector::NamespacedName name;
  if (!ParseCollection(args.collection, &name))
    return Usage("expected NS/NAME, got \"" + args.collection + "\"");
  request.mutable_collection()->set_namespace_(name.namespace_());
  request.mutable_collection()->set_name(name.name());
  if (!ParsePairs(args.labels,
                  request.mutable_collection()->mutable_metadata()->mutable_labels())) {
    return Usage("labels are key=value");
  }
  collector::CreateCollectionResponse response;
  if (int rc = client.Call(&collector::CollectionRepo::Stub::CreateCollection, request, response);
      rc != kExitOk) {
    return rc;
  }
  if (client.json()) {
    client.PrintJson(response);
  } else {
    std::printf("created collection %s\n", response.collection_id().c_str());
  }
  return kExitOk;
}

int CollectionsList(Client& client, const CollectionArgs& args) {
  collector::DiscoverRequest request;
  request.set_namespace_(args.collection);
  request.set_page_size(args.page_size);
  request.set_page_token(args.page_token);
  if (!ParsePairs(args.labels, request.mutable_label_filter()))
    return Usage("labels are key=value");
  collector::DiscoverResponse response;
  if (int rc = client.Call(&collector::CollectionRepo::Stub::Discover, request, response);
      rc != kExitOk) {
    return rc;
  }
  if (client.json()) {
    client.PrintJson(response);
    return kExitOk;
  }
  for (const auto& c : response.collections()) {
    std::string labels;
    for (const auto& [k, v] : c.metadata().labels()) {
      if (!labels.empty()) labels += ',';
      labels.append(k).append("=").append(v);
    }
    std::printf("%s/%s %s\n", c.namespace_().c_str(), c.name().c_str(), labels.c_str());
  }
  if (!response.next_page_token().empty()) {
    std::printf("(more: --page-token %s)\n", response.next_page_token().c_str());
  }
  return kExitOk;
}

int Backup(Client& client, const BackupArgs& args) {
  collector::BackupCollectionRequest request;
  request.set_wait(false);  // answered at once; --wait follows the job
  if (!ParseCollection(args.collection, request.mutable_collection())) {
    return Usage("expected NS/NAME, got \"" + args.collection + "\"");
  }
  request.set_include_files(args.files);
  request.set_dest_path(args.dest);
  request.set_store(args.store);
  request.set_max_attempts(args.max_attempts);
  if (!ParsePairs(args.tags, request.mutable_metadata())) return Usage("tags are key=value");
  collector::BackupCollectionResponse response;
  if (int rc = client.Call(&collector::CollectionRepo::Stub::BackupCollection, request, response);
      rc != kExitOk) {
    return rc;
  }
  if (args.wait) return client.Watch(response.job().job_id());
  if (client.json()) {
    client.PrintJson(response);
  } else {
    std::printf("queued job %s: backup %s of %s to %s\n", response.job().job_id().c_str(),
                response.backup().backup_id().c_str(), args.collection.c_str(),
                response.backup().storage_path().c_str());
  }
  return kExitOk;
}

int BackupsList(Client& client, const BackupsListArgs& args) {
  collector::ListBackupsRequest request;
  if (!args.filter.empty()) {
    collector::NamespacedName name;
    if (!ParseCollection(args.filter, &name, true)) return Usage("expected NS or NS/NAME");
    if (name.name().empty()) {
      request.set_namespace_(name.namespace_());
    } else {
      *request.mutable_collection() = name;
    }
  }
  if (!args.since.empty()) {
    int64_t since = ParseSince(args.since);
    if (since < 0) return Usage("--since takes unix seconds or a duration such as 7d, 12h, 30m");
    request.set_since_timestamp(since);
  }
  request.set_limit(args.limit);
  request.set_page_token(args.page_token);
  collector::ListBackupsResponse response;
  if (int rc = client.Call(&collector::CollectionRepo::Stub::ListBackups, request, response);
      rc != kExitOk) {
    return rc;
  }
  if (client.json()) {
    client.PrintJson(response);
    return kExitOk;
  }
  for (const auto& b : response.backups()) {
    std::printf("%-24s %-30s %-10s %s %10s %8lld records %6lld files %s\n", b.backup_id().c_str(),
                (b.collection().namespace_() + "/" + b.collection().name()).c_str(),
                BackupStateName(b.state()).c_str(), UtcTime(b.timestamp()).c_str(),
                HumanBytes(b.size_bytes()).c_str(), static_cast<long long>(b.record_count()),
                static_cast<long long>(b.file_count()), b.storage_path().c_str());
  }
  std::printf("%d of %lld backups\n", response.backups_size(),
              static_cast<long long>(response.total_count()));
  if (!response.next_page_token().empty()) {
    std::printf("more: --page-token %s\n", response.next_page_token().c_str());
  }
  return kExitOk;
}

int Restore(Client& client, const RestoreArgs& args) {
  collector::RestoreBackupRequest request;
  request.set_wait(false);  // answered at once; --wait follows the job
  collector::NamespacedName dest;
  if (!ParseCollection(args.dest, &dest))
    return Usage("expected NS/NAME, got \"" + args.dest + "\"");
  request.set_backup_id(args.backup_id);
  request.set_dest_namespace(dest.namespace_());
  request.set_dest_name(dest.name());
  request.set_overwrite(args.overwrite);
  collector::RestoreBackupResponse response;
  if (int rc = client.Call(&collector::CollectionRepo::Stub::RestoreBackup, request, response);
      rc != kExitOk) {
    return rc;
  }
  if (args.wait) return client.Watch(response.job().job_id());
  if (client.json()) {
    client.PrintJson(response);
  } else {
    std::printf("queued job %s: restore %s into %s\n", response.job().job_id().c_str(),
                args.backup_id.c_str(), args.dest.c_str());
  }
  return kExitOk;
}

int Verify(Client& client, const std::string& backup_id, bool wait, bool quick) {
  collector::VerifyBackupRequest request;
  request.set_quick(quick);
  request.set_wait(false);  // answered at once; --wait follows the job
  request.set_backup_id(backup_id);
  collector::VerifyBackupResponse response;
  if (int rc = client.Call(&collector::CollectionRepo::Stub::VerifyBackup, request, response);
      rc != kExitOk) {
    return rc;
  }
  if (!wait) {
    if (client.json()) {
      client.PrintJson(response);
    } else {
      std::printf("queued job %s: verify %s\n", response.job().job_id().c_str(), backup_id.c_str());
    }
    return kExitOk;
  }
  if (int watched = client.Watch(response.job().job_id()); watched != kExitOk) return watched;
  // The verdict: a verification that ran and found problems exits non-zero too.
  collector::GetJobRequest get;
  get.set_job_id(response.job().job_id());
  collector::GetJobResponse job;
  if (int rc = client.Call(&collector::BackupJobs::Stub::GetJob, get, job); rc != kExitOk)
    return rc;
  const auto& verdict = job.job().verify_result();
  if (!client.json()) {
    std::printf("backup %s is %s%s%s\n", backup_id.c_str(),
                verdict.is_valid() ? "VALID" : "INVALID", verdict.is_valid() ? "" : ": ",
                verdict.error_message().c_str());
  }
  return verdict.is_valid() ? kExitOk : kExitJobFailed;
}

int Delete(Client& client, const std::string& backup_id) {
  collector::DeleteBackupRequest request;
  request.set_backup_id(backup_id);
  collector::DeleteBackupResponse response;
  if (int rc = client.Call(&collector::CollectionRepo::Stub::DeleteBackup, request, response);
      rc != kExitOk) {
    return rc;
  }
  if (client.json()) {
    client.PrintJson(response);
  } else {
    std::printf("deleted %s, %s freed\n", backup_id.c_str(),
                HumanBytes(response.bytes_freed()).c_str());
  }
  return kExitOk;
}

int JobsList(Client& client, const JobsListArgs& args) {
  collector::ListJobsRequest request;
  if (!args.state.empty()) {
    collector::JobState state;
    if (!collector::JobState_Parse(args.state, &state)) return Usage("unknown state " + args.state);
    request.set_state(state);
  }
  if (!args.kind.empty()) {
    collector::JobKind kind;
    if (!collector::JobKind_Parse(args.kind, &kind)) return Usage("unknown kind " + args.kind);
    request.set_kind(kind);
  }
  if (!args.collection.empty() && !ParseCollection(args.collection, request.mutable_collection())) {
    return Usage("expected NS/NAME for --collection");
  }
  request.set_page_size(args.page_size);
  request.set_page_token(args.page_token);
  collector::ListJobsResponse response;
  if (int rc = client.Call(&collector::BackupJobs::Stub::ListJobs, request, response);
      rc != kExitOk) {
    return rc;
  }
  if (client.json()) {
    client.PrintJson(response);
    return kExitOk;
  }
  for (const auto& j : response.jobs()) PrintJobLine(j);
  if (!response.next_page_token().empty()) {
    std::printf("(more: --page-token %s)\n", response.next_page_token().c_str());
  }
  return kExitOk;
}

int JobsGet(Client& client, const std::string& job_id) {
  collector::GetJobRequest request;
  request.set_job_id(job_id);
  collector::GetJobResponse response;
  if (int rc = client.Call(&collector::BackupJobs::Stub::GetJob, request, response);
      rc != kExitOk) {
    return rc;
  }
  if (client.json()) {
    client.PrintJson(response.job());
  } else {
    PrintJobLine(response.job());
    if (!response.job().submitted_by().empty()) {
      std::printf("submitted by: %s\n", response.job().submitted_by().c_str());
    }
    if (!response.job().node().empty()) {
      std::printf("node: %s\n", response.job().node().c_str());
    }
    if (response.job().has_error()) {
      std::printf("error: %s: %s\n",
                  collector::Status::Code_Name(response.job().error().code()).c_str(),
                  response.job().error().message().c_str());
    }
  }
  return kExitOk;
}

int JobsCancel(Client& client, const std::string& job_id) {
  collector::CancelJobRequest request;
  request.set_job_id(job_id);
  collector::CancelJobResponse response;
  if (int rc = client.Call(&collector::BackupJobs::Stub::CancelJob, request, response);
      rc != kExitOk) {
    return rc;
  }
  if (client.json()) {
    client.PrintJson(response.job());
  } else {
    std::printf("job %s: %s%s\n", job_id.c_str(),
                collector::JobState_Name(response.job().state()).c_str(),
                response.job().state() == collector::RUNNING ? " (cancel requested)" : "");
  }
  return kExitOk;
}

int AuthNewToken(const NewTokenArgs& args) {
  auto scope = NamespaceScope::Parse(args.namespaces);
  if (!scope) {
    std::fprintf(stderr, "backupctl: %s\n", scope.error().message().c_str());
    return kExitUsage;
  }
  auto token = GenerateToken();
  if (!token) {
    std::fprintf(stderr, "backupctl: %s\n", token.error().message().c_str());
    return kExitRpcError;
  }
  collector::config::TokenEntry entry;
  entry.set_name(args.name);
  entry.set_sha256(token->sha256_hex);
  entry.set_role(args.role);
  for (const auto& ns : args.namespaces) entry.add_namespaces(ns);
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(entry, &json);
  // The token once, for the client; the entry, which holds only its hash, for the server.
  std::printf("token: %s\nauth-file entry: %s\n", token->token.c_str(), json.c_str());
  return kExitOk;
}

}  // namespace backup::cli
