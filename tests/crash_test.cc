// Crash safety with real processes: backupd is killed with SIGKILL in the middle of a
// restore, then started again; the collection is the old one or the new one at every
// moment, and the restore finishes after the restart (invariants 1 and 4). And in the
// middle of a chunked backup: it finishes after the restart and leaves no stray chunk.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include "backup_jobs.grpc.pb.h"
#include "collection_repo.grpc.pb.h"
#include "common/data_layout.h"
#include "tests/process.h"
#include "tests/test_util.h"

namespace backup::testing {
namespace {
namespace fs = std::filesystem;

struct Client {
  explicit Client(const std::string& address)
      : channel(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        repo(collector::CollectionRepo::NewStub(channel)),
        jobs(collector::BackupJobs::NewStub(channel)) {}
  std::unique_ptr<grpc::ClientContext> Ctx(int seconds = 60) {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
    return c;
  }
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<collector::CollectionRepo::Stub> repo;
  std::unique_ptr<collector::BackupJobs::Stub> jobs;
};

// Creates the collection prod/users; whether the call succeeded.
bool CreateUsers(Client& client) {
  collector::CreateCollectionRequest create;
  create.mutable_collection()->set_namespace_("prod");
  create.mutable_collection()->set_name("users");
  collector::CreateCollectionResponse created;
  return client.repo->CreateCollection(client.Ctx().get(), create, &created).ok();
}

collector::Job WaitForEnd(Client& client, const std::string& job_id) {
  collector::WatchJobRequest request;
  request.set_job_id(job_id);
  auto ctx = client.Ctx(120);
  auto reader = client.jobs->WatchJob(ctx.get(), request);
  collector::Job job;
  while (reader->Read(&job)) {
  }
  EXPECT_TRUE(reader->Finish().ok());
  return job;
}

TEST(RestoreCrash, KilledAtAnyPointLeavesTheOldOrTheNewCollectionAndFinishesAfterRestart) {
  for (int delay_ms : {0, 15, 40, 80, 150, 300}) {
    SCOPED_TRACE("killed after " + std::to_string(delay_ms) + " ms");
    TempDir dir;
    const fs::path data = dir.path() / "data";
    DataLayout layout(data);
    const CollectionName users{"prod", "users"};
    std::string backup_id, new_dump, old_dump;
    std::map<std::string, std::string> new_files, old_files;
    {
      BackupdProcess server(data, 1);
      Client client(server.address());
      ASSERT_TRUE(CreateUsers(client));
      FillRecords(layout.CollectionDb(users), 20'000, 1'000);
      WriteFiles(layout.CollectionFilesDir(users), 40, 64 * 1024);
      new_dump = CanonicalDump(layout.CollectionDb(users));
      new_files = FileTree(layout.CollectionFilesDir(users));

      collector::BackupCollectionRequest backup;
      backup.mutable_collection()->set_namespace_("prod");
      backup.mutable_collection()->set_name("users");
      backup.set_include_files(true);
      backup.set_wait(true);
      collector::BackupCollectionResponse done;
      auto s = client.repo->BackupCollection(client.Ctx().get(), backup, &done);
      ASSERT_TRUE(s.ok()) << s.error_message();
      ASSERT_EQ(done.backup().state(), collector::BACKUP_COMPLETED);
      backup_id = done.backup().backup_id();

      // The collection moves on after the backup: this is the "old" state a restore replaces.
      auto db = sql::Database::Open(layout.CollectionDb(users).string(), {});
      ASSERT_TRUE(db->Exec("DELETE FROM records WHERE id >= 'r010000'"));
      db = Fail(Error::Internal("closed"));
      FillRecords(layout.CollectionDb(users), 500, 50, 500'000);
      fs::remove_all(layout.CollectionFilesDir(users) / "d1");
      std::ofstream(layout.CollectionFilesDir(users) / "newer.txt") << "after the backup";
      old_dump = CanonicalDump(layout.CollectionDb(users));
      old_files = FileTree(layout.CollectionFilesDir(users));
      ASSERT_NE(old_dump, new_dump);

      collector::RestoreBackupRequest restore;
      restore.set_wait(false);
      restore.set_backup_id(backup_id);
      restore.set_dest_namespace("prod");
      restore.set_dest_name("users");
      restore.set_overwrite(true);
      collector::RestoreBackupResponse queued;
      ASSERT_TRUE(client.repo->RestoreBackup(client.Ctx().get(), restore, &queued).ok());
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      server.process().Signal(SIGKILL);
      server.process().Wait();
    }
    // Right after the kill the database is whole: the old one or the new one.
    const std::string now = CanonicalDump(layout.CollectionDb(users));
    EXPECT_TRUE(now == old_dump || now == new_dump);
    const bool files_new = FileTree(layout.CollectionFilesDir(users)) == new_files;
    // The files are swapped before the database (they can still be put back until the
    // database is replaced), and the journal rolls the rest forward, so the new database
    // beside anything but the new files would mean the order was broken.
    EXPECT_FALSE(!files_new && now == new_dump);
    std::printf("killed after %d ms: database %s, files %s\n", delay_ms,
                now == new_dump ? "new" : "old", files_new ? "new" : "old");

    BackupdProcess restarted(data, 1);
    Client client(restarted.address());
    collector::ListJobsRequest list;
    list.set_kind(collector::RESTORE);
    collector::ListJobsResponse jobs;
    ASSERT_TRUE(client.jobs->ListJobs(client.Ctx().get(), list, &jobs).ok());
    ASSERT_EQ(jobs.jobs_size(), 1);
    collector::Job end = WaitForEnd(client, jobs.jobs(0).job_id());
    ASSERT_EQ(end.state(), collector::SUCCEEDED) << end.error().message();
    EXPECT_EQ(CanonicalDump(layout.CollectionDb(users)), new_dump);
    EXPECT_EQ(IntegrityCheck(layout.CollectionDb(users)), "ok");
    EXPECT_EQ(FileTree(layout.CollectionFilesDir(users)), new_files);
    for (const fs::path& root : {data / "collections", data / "files"}) {
      for (auto& e : fs::recursive_directory_iterator(root)) {
        const std::string name = e.path().filename().string();
        EXPECT_EQ(name.find(".restoring-"), std::string::npos) << e.path();
        EXPECT_EQ(name.find(".old-"), std::string::npos) << e.path();
      }
    }
  }
}

collector::BackupCollectionResponse BackupUsers(Client& client, bool wait) {
  collector::BackupCollectionRequest backup;
  backup.mutable_collection()->set_namespace_("prod");
  backup.mutable_collection()->set_name("users");
  backup.set_include_files(true);
  backup.set_wait(wait);
  collector::BackupCollectionResponse response;
  auto s = client.repo->BackupCollection(client.Ctx().get(), backup, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return response;
}

size_t EntriesIn(const fs::path& dir) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file()) ++n;
  }
  return n;
}

// A chunked backup based on an earlier one, killed at any point (chunking, uploading packs,
// writing the manifest, recording, sweeping): after the restart it completes, restores
// whole, and once both backups are deleted nothing of either is left in the store.
TEST(BackupCrash, AChunkedBackupKilledAtAnyPointFinishesAndLeavesNoStrayChunk) {
  for (int delay_ms : {0, 25, 50, 75, 100, 125, 150, 200}) {
    SCOPED_TRACE("killed after " + std::to_string(delay_ms) + " ms");
    TempDir dir;
    const fs::path data = dir.path() / "data";
    DataLayout layout(data);
    const CollectionName users{"prod", "users"};
    const std::vector<std::string> chunked{"--backup-format", "chunked"};
    std::string base_id, dump;
    {
      BackupdProcess server(data, 1, 1, chunked);
      Client client(server.address());
      ASSERT_TRUE(CreateUsers(client));
      FillRecords(layout.CollectionDb(users), 40'000, 1'000);
      WriteFiles(layout.CollectionFilesDir(users), 20, 256 * 1024);
      auto base = BackupUsers(client, true);
      ASSERT_EQ(base.backup().state(), collector::BACKUP_COMPLETED);
      base_id = base.backup().backup_id();
      FillRecords(layout.CollectionDb(users), 20'000, 1'000, 100'000);
      dump = CanonicalDump(layout.CollectionDb(users));
      BackupUsers(client, false);
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      server.process().Signal(SIGKILL);
      server.process().Wait();
    }
    BackupdProcess restarted(data, 1, 1, chunked);
    Client client(restarted.address());
    collector::ListJobsRequest list;
    list.set_kind(collector::BACKUP);
    collector::ListJobsResponse jobs;
    ASSERT_TRUE(client.jobs->ListJobs(client.Ctx().get(), list, &jobs).ok());
    ASSERT_EQ(jobs.jobs_size(), 2);
    std::string next_id;
    for (const auto& j : jobs.jobs()) {
      collector::Job end = WaitForEnd(client, j.job_id());
      ASSERT_EQ(end.state(), collector::SUCCEEDED) << end.error().message();
      if (j.backup_id() == base_id) continue;
      next_id = j.backup_id();
      std::printf("killed after %d ms: the backup ended in attempt %d\n", delay_ms,
                  static_cast<int>(end.attempt()));
    }
    collector::VerifyBackupRequest verify;
    verify.set_backup_id(next_id);
    verify.set_wait(true);
    collector::VerifyBackupResponse verified;
    ASSERT_TRUE(client.repo->VerifyBackup(client.Ctx().get(), verify, &verified).ok());
    EXPECT_TRUE(verified.is_valid()) << verified.error_message();
    collector::RestoreBackupRequest restore;
    restore.set_backup_id(next_id);
    restore.set_dest_namespace("prod");
    restore.set_dest_name("copy");
    restore.set_wait(true);
    collector::RestoreBackupResponse restored;
    ASSERT_TRUE(client.repo->RestoreBackup(client.Ctx().get(), restore, &restored).ok());
    EXPECT_EQ(restored.status().code(), collector::Status::OK) << restored.status().message();
    EXPECT_EQ(CanonicalDump(layout.CollectionDb({"prod", "copy"})), dump);
    for (const std::string& id : {base_id, next_id}) {
      collector::DeleteBackupRequest del;
      del.set_backup_id(id);
      collector::DeleteBackupResponse deleted;
      auto s = client.repo->DeleteBackup(client.Ctx().get(), del, &deleted);
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
    EXPECT_EQ(EntriesIn(data / "store" / "chunks"), 0u) << "a killed attempt's packs were left";
    EXPECT_EQ(EntriesIn(data / "store" / "backups"), 0u)
        << Shell("find " + (data / "store").string()).first;
    EXPECT_EQ(EntriesIn(data / "staging"), 0u)
        << Shell("find " + (data / "staging").string()).first;
  }
}

}  // namespace
}  // namespace backup::testing
