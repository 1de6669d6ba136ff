// backupctl: the command line for backupd. See `backupctl --help`.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/policy_commands.h"

namespace backup::cli {
namespace {

// The parsed command line: every subcommand's arguments, and the exit code of the one
// that ran. Each Add* registers one group of subcommands.
class CommandLine {
 public:
  CommandLine() {
    if (const char* env = std::getenv("BACKUPCTL_SERVER")) options_.server = env;
    app_.require_subcommand(1);
    app_.add_option("--server", options_.server, "backupd address (env BACKUPCTL_SERVER)")
        ->capture_default_str();
    app_.add_option("-o,--output", output_, "text or json")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    app_.add_option("--timeout", options_.timeout_s, "seconds per call")->capture_default_str();
    AddSecurityOptions();
    AddCollections();
    AddBackupCommands();
    AddBackupsList();
    AddJobs();
    AddPolicies();
    AddAuth();
  }

  int Run(int argc, char** argv) {
    try {
      app_.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      int code = app_.exit(e);
      return code == 0 ? 0 : kExitUsage;
    }
    return rc_;
  }

 private:
  // The callback that connects and runs `command`, keeping its exit code.
  std::function<void()> Runs(std::function<int(Client&)> command) {
    return [this, command = std::move(command)] {
      options_.json = output_ == "json";
      Client client(options_);
      rc_ = command(client);
    };
  }

  void AddSecurityOptions() {
    app_.add_option("--tls-ca", options_.tls_ca,
                    "PEM CA that signed backupd's certificate: use TLS")
        ->envname("BACKUPCTL_TLS_CA");
    app_.add_option("--tls-cert", options_.tls_cert, "PEM client certificate (mutual TLS)")
        ->envname("BACKUPCTL_TLS_CERT");
    app_.add_option("--tls-key", options_.tls_key, "PEM key of --tls-cert")
        ->envname("BACKUPCTL_TLS_KEY");
    app_.add_option("--tls-server-name", options_.tls_server_name,
                    "name to expect in backupd's certificate (default: the --server host)")
        ->envname("BACKUPCTL_TLS_SERVER_NAME");
    app_.add_option("--token-file", options_.token_file, "file holding the bearer token")
        ->envname("BACKUPCTL_TOKEN_FILE");
    if (const char* env = std::getenv("BACKUPCTL_TOKEN")) options_.token = env;
  }

  void AddAuth() {
    auto* auth =
        app_.add_subcommand("auth", "tokens for backupd --auth-file")->require_subcommand(1);
    auto* create = auth->add_subcommand("new-token", "print a new token and its auth-file entry");
    create->add_option("name", token_.name, "who the token is for (audit lines name it)")
        ->required();
    create->add_option("--role", token_.role, "viewer, operator or admin")
        ->check(CLI::IsMember({"viewer", "operator", "admin"}))
        ->capture_default_str();
    create
        ->add_option("--namespace", token_.namespaces, "namespace glob it may act in (repeatable)")
        ->required();
    create->callback([this] { rc_ = AuthNewToken(token_); });
  }

  void AddCollections() {
    auto* collections =
        app_.add_subcommand("collections", "create and list collections")->require_subcommand(1);
    auto* create = collections->add_subcommand("create", "create a collection NS/NAME");
    create->add_option("collection", ccreate_.collection, "NS/NAME")->required();
    create->add_option("--label", ccreate_.labels, "key=value (repeatable)");
    create->callback(Runs([this](Client& c) { return CollectionsCreate(c, ccreate_); }));
    auto* list = collections->add_subcommand("list", "list collections [NS]");
    list->add_option("namespace", clist_.collection, "only this namespace");
    list->add_option("--label", clist_.labels, "key=value that must match (repeatable)");
    list->add_option("--page-size", clist_.page_size);
    list->add_option("--page-token", clist_.page_token);
    list->callback(Runs([this](Client& c) { return CollectionsList(c, clist_); }));
  }

  void AddBackupCommands() {
    auto* backup = app_.add_subcommand("backup", "back up a collection NS/NAME");
    backup->add_option("collection", bargs_.collection, "NS/NAME")->required();
    backup->add_flag("--files", bargs_.files, "include the collection's files");
    backup->add_option("--dest", bargs_.dest,
                       "a plain database file inside a backup root (instead of a store)");
    backup->add_option("--store", bargs_.store,
                       "a store configured on the server (default: its --default-store)");
    backup->add_option("--tag", bargs_.tags, "key=value metadata (repeatable)");
    backup->add_option("--max-attempts", bargs_.max_attempts, "attempts before the job fails");
    backup->add_flag("--wait", bargs_.wait, "follow the job with progress until it ends");
    backup->callback(Runs([this](Client& c) { return Backup(c, bargs_); }));

    auto* restore = app_.add_subcommand("restore", "restore BACKUP_ID into a collection NS/NAME");
    restore->add_option("backup_id", rargs_.backup_id)->required();
    restore->add_option("collection", rargs_.dest, "NS/NAME")->required();
    restore->add_flag("--overwrite", rargs_.overwrite, "replace an existing collection");
    restore->add_flag("--wait", rargs_.wait, "follow the job with progress until it ends");
    restore->callback(Runs([this](Client& c) { return Restore(c, rargs_); }));

    auto* verify =
        app_.add_subcommand("verify", "check a backup's integrity (exit 3 when invalid)");
    verify->add_option("backup_id", backup_id_)->required();
    verify->add_flag("--wait", verify_wait_, "follow the job and print the verdict");
    verify->add_flag("--quick", verify_quick_,
                     "only what the store reports (the archive's size and checksum)");
    verify->callback(
        Runs([this](Client& c) { return Verify(c, backup_id_, verify_wait_, verify_quick_); }));
    auto* del = app_.add_subcommand("delete", "delete a backup and its files");
    del->add_option("backup_id", backup_id_)->required();
    del->callback(Runs([this](Client& c) { return Delete(c, backup_id_); }));
  }

  void AddBackupsList() {
    auto* backups = app_.add_subcommand("backups", "list backups")->require_subcommand(1);
    auto* list = backups->add_subcommand("list", "list backups [NS[/NAME]], newest first");
    list->add_option("filter", blist_.filter, "NS or NS/NAME");
    list->add_option("--since", blist_.since, "unix seconds, or 7d / 12h / 30m back");
    list->add_option("--limit", blist_.limit, "at most this many (a page holds at most 1000)");
    list->add_option("--page-token", blist_.page_token, "continue a listing");
    list->callback(Runs([this](Client& c) { return BackupsList(c, blist_); }));
    auto* forget = backups->add_subcommand(
        "forget", "apply a policy's retention now; --dry-run shows what it would remove and why");
    forget->add_option("--policy", forget_.policy, "the policy whose rules apply")->required();
    forget->add_option("collection", forget_.collection,
                       "NS/NAME; default: every collection the policy selects");
    forget->add_flag("--dry-run", forget_.dry_run, "remove nothing, show the verdicts");
    forget->callback(Runs([this](Client& c) { return BackupsForget(c, forget_); }));
  }

  // The options of `policies create` and `policies update`.
  void PolicyOptions(CLI::App* command) {
    command->add_option("name", policy_.name, "the policy's name")->required();
    command->add_option("--selector", policy_.selector, "NS or NS/NAME")->required();
    command->add_option("--label", policy_.labels, "only collections with key=value (repeatable)");
    command
        ->add_option("--schedule", policy_.schedule,
                     "cron (\"CRON_TZ=Europe/Berlin 30 2 * * *\"), @daily, or \"@every 10m\"")
        ->required();
    command->add_option("--store", policy_.store, "a store configured on the server");
    command->add_flag("--files", policy_.files, "include the collections' files");
    command->add_option("--keep-last", policy_.keep_last, "keep the N newest backups");
    command->add_option("--keep-daily", policy_.keep_daily, "keep the newest of N days");
    command->add_option("--keep-weekly", policy_.keep_weekly, "keep the newest of N ISO weeks");
    command->add_option("--keep-monthly", policy_.keep_monthly, "keep the newest of N months");
    command->add_option("--keep-within", policy_.keep_within,
                        "keep all taken within this of the newest (e.g. 7d)");
    command->add_flag("--verify", policy_.verify, "verify each scheduled backup");
    command->add_option("--jitter", policy_.jitter, "run each slot up to this much later (30s)");
    command->add_flag("--paused", policy_.paused, "create it paused");
  }

  void AddPolicies() {
    auto* policies =
        app_.add_subcommand("policies", "scheduled backups with retention")->require_subcommand(1);
    auto* create = policies->add_subcommand("create", "create a backup policy");
    PolicyOptions(create);
    create->callback(Runs([this](Client& c) { return PoliciesCreate(c, policy_); }));
    auto* update = policies->add_subcommand("update", "replace a policy's definition");
    PolicyOptions(update);
    update->callback(Runs([this](Client& c) { return PoliciesUpdate(c, policy_); }));
    auto* list = policies->add_subcommand("list", "list policies with their next run");
    list->callback(Runs([](Client& c) { return PoliciesList(c); }));
    for (const char* verb : {"get", "delete", "pause", "resume"}) {
      auto* command = policies->add_subcommand(verb, std::string(verb) + " a policy");
      command->add_option("name", policy_name_)->required();
      const std::string v = verb;
      command->callback(Runs([this, v](Client& c) {
        if (v == "get") return PoliciesGet(c, policy_name_);
        if (v == "delete") return PoliciesDelete(c, policy_name_);
        return PoliciesSetPaused(c, policy_name_, v == "pause");
      }));
    }
  }

  void AddJobs() {
    auto* jobs =
        app_.add_subcommand("jobs", "list, get, watch and cancel jobs")->require_subcommand(1);
    auto* list = jobs->add_subcommand("list", "list jobs, newest first");
    list->add_option("--state", jlist_.state, "QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED");
    list->add_option("--kind", jlist_.kind, "BACKUP, RESTORE, VERIFY, DELETE");
    list->add_option("--collection", jlist_.collection, "NS/NAME");
    list->add_option("--page-size", jlist_.page_size);
    list->add_option("--page-token", jlist_.page_token);
    list->callback(Runs([this](Client& c) { return JobsList(c, jlist_); }));
    auto* get = jobs->add_subcommand("get", "show one job");
    get->add_option("job_id", job_id_)->required();
    get->callback(Runs([this](Client& c) { return JobsGet(c, job_id_); }));
    auto* watch = jobs->add_subcommand("watch", "follow a job with progress until it ends");
    watch->add_option("job_id", job_id_)->required();
    watch->callback(Runs([this](Client& c) { return c.Watch(job_id_); }));
    auto* cancel = jobs->add_subcommand("cancel", "cancel a queued or running job");
    cancel->add_option("job_id", job_id_)->required();
    cancel->callback(Runs([this](Client& c) { return JobsCancel(c, job_id_); }));
  }

  CLI::App app_{"backupctl: submit and follow backups of SQLite collections"};
  ClientOptions options_;
  std::string output_ = "text";
  int rc_ = kExitOk;
  CollectionArgs ccreate_, clist_;
  BackupArgs bargs_;
  RestoreArgs rargs_;
  BackupsListArgs blist_;
  JobsListArgs jlist_;
  PolicyArgs policy_;
  ForgetArgs forget_;
  std::string policy_name_;
  std::string backup_id_, job_id_;
  bool verify_wait_ = false;
  bool verify_quick_ = false;
  NewTokenArgs token_;
};

}  // namespace
}  // namespace backup::cli

int main(int argc, char** argv) {
  try {
    return backup::cli::CommandLine().Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "backupctl: %s\n", e.what());
    return backup::cli::kExitRpcError;
  }
}
