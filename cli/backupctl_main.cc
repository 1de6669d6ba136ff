// backupctl: the command line for backupd. See `backupctl --help`.
#include <cstdlib>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

using namespace backup::cli;

int main(int argc, char** argv) {
  ClientOptions options;
  if (const char* env = std::getenv("BACKUPCTL_SERVER")) options.server = env;
  std::string output = "text";

  CLI::App app{"backupctl: submit and follow backups of SQLite collections"};
  app.require_subcommand(1);
  app.add_option("--server", options.server, "backupd address (env BACKUPCTL_SERVER)")
      ->capture_default_str();
  app.add_option("-o,--output", output, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--timeout", options.timeout_s, "seconds per call")->capture_default_str();

  int rc = kExitOk;
  auto run = [&](auto fn) {
    return [&, fn] {
      options.json = output == "json";
      Client c(options);
      rc = fn(c);
    };
  };

  auto* collections =
      app.add_subcommand("collections", "create and list collections")->require_subcommand(1);
  CollectionArgs ccreate, clist;
  auto* create = collections->add_subcommand("create", "create a collection NS/NAME");
  create->add_option("collection", ccreate.collection, "NS/NAME")->required();
  create->add_option("--label", ccreate.labels, "key=value (repeatable)");
  create->callback(run([&](Client& c) { return CollectionsCreate(c, ccreate); }));
  auto* list = collections->add_subcommand("list", "list collections [NS]");
  list->add_option("namespace", clist.collection, "only this namespace");
  list->add_option("--label", clist.labels, "key=value that must match (repeatable)");
  list->add_option("--page-size", clist.page_size);
  list->add_option("--page-token", clist.page_token);
  list->callback(run([&](Client& c) { return CollectionsList(c, clist); }));

  BackupArgs bargs;
  auto* backup = app.add_subcommand("backup", "back up a collection NS/NAME");
  backup->add_option("collection", bargs.collection, "NS/NAME")->required();
  backup->add_flag("--files", bargs.files, "include the collection's files");
  backup->add_option("--dest", bargs.dest, "destination inside a backup root");
  backup->add_option("--tag", bargs.tags, "key=value metadata (repeatable)");
  backup->add_option("--max-attempts", bargs.max_attempts, "attempts before the job fails");
  backup->add_flag("--wait", bargs.wait, "follow the job with progress until it ends");
  backup->callback(run([&](Client& c) { return Backup(c, bargs); }));

  RestoreArgs rargs;
  auto* restore = app.add_subcommand("restore", "restore BACKUP_ID into a collection NS/NAME");
  restore->add_option("backup_id", rargs.backup_id)->required();
  restore->add_option("collection", rargs.dest, "NS/NAME")->required();
  restore->add_flag("--overwrite", rargs.overwrite, "replace an existing collection");
  restore->add_flag("--wait", rargs.wait, "follow the job with progress until it ends");
  restore->callback(run([&](Client& c) { return Restore(c, rargs); }));

  std::string backup_id;
  bool verify_wait = false;
  auto* verify = app.add_subcommand("verify", "check a backup's integrity (exit 3 when invalid)");
  verify->add_option("backup_id", backup_id)->required();
  verify->add_flag("--wait", verify_wait, "follow the job and print the verdict");
  verify->callback(run([&](Client& c) { return Verify(c, backup_id, verify_wait); }));
  auto* del = app.add_subcommand("delete", "delete a backup and its files");
  del->add_option("backup_id", backup_id)->required();
  del->callback(run([&](Client& c) { return Delete(c, backup_id); }));

  auto* backups = app.add_subcommand("backups", "list backups")->require_subcommand(1);
  BackupsListArgs blist;
  auto* backups_list = backups->add_subcommand("list", "list backups [NS[/NAME]], newest first");
  backups_list->add_option("filter", blist.filter, "NS or NS/NAME");
  backups_list->add_option("--since", blist.since, "unix seconds, or 7d / 12h / 30m back");
  backups_list->add_option("--limit", blist.limit, "at most this many");
  backups_list->callback(run([&](Client& c) { return BackupsList(c, blist); }));

  auto* jobs =
      app.add_subcommand("jobs", "list, get, watch and cancel jobs")->require_subcommand(1);
  JobsListArgs jlist;
  auto* jobs_list = jobs->add_subcommand("list", "list jobs, newest first");
  jobs_list->add_option("--state", jlist.state, "QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED");
  jobs_list->add_option("--kind", jlist.kind, "BACKUP, RESTORE, VERIFY");
  jobs_list->add_option("--collection", jlist.collection, "NS/NAME");
  jobs_list->add_option("--page-size", jlist.page_size);
  jobs_list->add_option("--page-token", jlist.page_token);
  jobs_list->callback(run([&](Client& c) { return JobsList(c, jlist); }));
  std::string job_id;
  auto* get = jobs->add_subcommand("get", "show one job");
  get->add_option("job_id", job_id)->required();
  get->callback(run([&](Client& c) { return JobsGet(c, job_id); }));
  auto* watch = jobs->add_subcommand("watch", "follow a job with progress until it ends");
  watch->add_option("job_id", job_id)->required();
  watch->callback(run([&](Client& c) { return c.Watch(job_id); }));
  auto* cancel = jobs->add_subcommand("cancel", "cancel a queued or running job");
  cancel->add_option("job_id", job_id)->required();
  cancel->callback(run([&](Client& c) { return JobsCancel(c, job_id); }));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  return rc;
}
