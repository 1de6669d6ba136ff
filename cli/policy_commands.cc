#include "cli/policy_commands.h"

#include <cstdio>

namespace backup::cli {
namespace {

// The policy the arguments describe; false (after printing why) when they do not parse.
bool ToPolicy(const PolicyArgs& args, collector::ScheduledBackupPolicy& policy) {
  policy.set_name(args.name);
  collector::NamespacedName selector;
  if (!ParseCollection(args.selector, &selector, /*allow_namespace_only=*/true)) {
    Usage("--selector wants NS or NS/NAME, not \"" + args.selector + "\"");
    return false;
  }
  policy.mutable_selector()->set_namespace_(selector.namespace_());
  policy.mutable_selector()->set_name(selector.name());
  if (!ParsePairs(args.labels, policy.mutable_selector()->mutable_labels())) {
    Usage("--label wants key=value");
    return false;
  }
  policy.set_schedule(args.schedule);
  policy.set_store(args.store);
  policy.set_include_files(args.files);
  auto& r = *policy.mutable_retention();
  r.set_keep_last(args.keep_last);
  r.set_keep_daily(args.keep_daily);
  r.set_keep_weekly(args.keep_weekly);
  r.set_keep_monthly(args.keep_monthly);
  r.set_keep_within(args.keep_within);
  policy.set_verify(args.verify);
  policy.set_jitter(args.jitter);
  policy.set_paused(args.paused);
  return true;
}

std::string Keeps(const collector::RetentionRules& r) {
  std::string text;
  const auto add = [&](const char* what, int n) {
    if (n > 0) text += std::string(text.empty() ? "" : ",") + what + "=" + std::to_string(n);
  };
  add("last", r.keep_last());
  add("daily", r.keep_daily());
  add("weekly", r.keep_weekly());
  add("monthly", r.keep_monthly());
  if (!r.keep_within().empty())
    text += std::string(text.empty() ? "" : ",") + "within=" + r.keep_within();
  return text.empty() ? "all" : text;
}

void PrintPolicy(const collector::ScheduledBackupPolicy& p) {
  const std::string selector =
      p.selector().namespace_() + (p.selector().name().empty() ? "" : "/" + p.selector().name());
  std::printf("%-20s %-24s %-28s keep %-22s %-8s next %s last %s\n", p.name().c_str(),
              selector.c_str(), p.schedule().c_str(), Keeps(p.retention()).c_str(),
              p.paused() ? "paused" : "active", UtcTime(p.next_slot()).c_str(),
              UtcTime(p.last_slot()).c_str());
}

int PrintPolicyResponse(Client& client, const collector::PolicyResponse& response) {
  if (client.json()) {
    client.PrintJson(response.policy());
  } else {
    PrintPolicy(response.policy());
  }
  return kExitOk;
}

}  // namespace

int PoliciesCreate(Client& client, const PolicyArgs& args) {
  collector::CreatePolicyRequest request;
  if (!ToPolicy(args, *request.mutable_policy())) return kExitUsage;
  collector::PolicyResponse response;
  if (int rc = client.Call(&collector::BackupPolicies::Stub::CreatePolicy, request, response);
      rc != kExitOk) {
    return rc;
  }
  return PrintPolicyResponse(client, response);
}

int PoliciesUpdate(Client& client, const PolicyArgs& args) {
  collector::UpdatePolicyRequest request;
  if (!ToPolicy(args, *request.mutable_policy())) return kExitUsage;
  collector::PolicyResponse response;
  if (int rc = client.Call(&collector::BackupPolicies::Stub::UpdatePolicy, request, response);
      rc != kExitOk) {
    return rc;
  }
  return PrintPolicyResponse(client, response);
}

int PoliciesList(Client& client) {
  collector::ListPoliciesRequest request;
  collector::ListPoliciesResponse response;
  if (int rc = client.Call(&collector::BackupPolicies::Stub::ListPolicies, request, response);
      rc != kExitOk) {
    return rc;
  }
  if (client.json()) {
    client.PrintJson(response);
  } else {
    for (const auto& p : response.policies()) PrintPolicy(p);
  }
  return kExitOk;
}

int PoliciesGet(Client& client, const std::string& name) {
  collector::GetPolicyRequest request;
  request.set_name(name);
  collector::PolicyResponse response;
  if (int rc = client.Call(&collector::BackupPolicies::Stub::GetPolicy, request, response);
      rc != kExitOk) {
    return rc;
  }
  return PrintPolicyResponse(client, response);
}

int PoliciesDelete(Client& client, const std::string& name) {
  collector::DeletePolicyRequest request;
  request.set_name(name);
  collector::DeletePolicyResponse response;
  if (int rc = client.Call(&collector::BackupPolicies::Stub::DeletePolicy, request, response);
      rc != kExitOk) {
    return rc;
  }
  if (client.json()) {
    client.PrintJson(response);
  } else {
    std::printf("deleted policy %s (its backups stay)\n", name.c_str());
  }
  return kExitOk;
}

int PoliciesSetPaused(Client& client, const std::string& name, bool paused) {
  collector::SetPolicyPausedRequest request;
  request.set_name(name);
  request.set_paused(paused);
  collector::PolicyResponse response;
  if (int rc = client.Call(&collector::BackupPolicies::Stub::SetPolicyPaused, request, response);
      rc != kExitOk) {
    return rc;
  }
  return PrintPolicyResponse(client, response);
}

int BackupsForget(Client& client, const ForgetArgs& args) {
  collector::ForgetBackupsRequest request;
  request.set_policy(args.policy);
  request.set_dry_run(args.dry_run);
  if (!args.collection.empty() && !ParseCollection(args.collection, request.mutable_collection())) {
    return Usage("collection wants NS/NAME, not \"" + args.collection + "\"");
  }
  collector::ForgetBackupsResponse response;
  if (int rc = client.Call(&collector::BackupPolicies::Stub::ForgetBackups, request, response);
      rc != kExitOk) {
    return rc;
  }
  if (client.json()) {
    client.PrintJson(response);
    return kExitOk;
  }
  for (const auto& c : response.collections()) {
    std::printf("%s/%s\n", c.collection().namespace_().c_str(), c.collection().name().c_str());
    for (const auto& b : c.backups()) {
      std::string why;
      for (const auto& reason : b.reasons()) why += (why.empty() ? "" : ", ") + reason;
      const char* verdict = b.keep() ? "keep  " : (args.dry_run ? "would remove" : "removed");
      std::printf("  %s %s %s %s\n", verdict, b.backup_id().c_str(), UtcTime(b.timestamp()).c_str(),
                  why.c_str());
    }
  }
  return kExitOk;
}

}  // namespace backup::cli
