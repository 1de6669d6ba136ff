// Backups end to end against a real server on a loopback port, with real files: the
// async path (submit, watch, finished backup), listing, cancellation, bad input,
// restarts and id uniqueness.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "common/backup_paths.h"
#include "common/fs.h"
#include "common/sqlite.h"
#include "tests/server_fixture.h"

namespace backup::testing {
namespace {
namespace fs = std::filesystem;

// Every regular file below `dir`.
std::vector<fs::path> RegularFiles(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file()) out.push_back(it->path());
  }
  return out;
}

using BackupEndToEnd = ServerTest;

TEST_F(BackupEndToEnd, TenThousandRecordsAndHundredFilesWatchedToSuccess) {
  CreateCollection("prod", "users", 10'000, 100);
  auto submitted = Backup("prod", "users", /*files=*/true);
  EXPECT_EQ(submitted.status().code(), collector::Status::OK);
  EXPECT_EQ(submitted.backup().state(), collector::BACKUP_PENDING);
  EXPECT_EQ(submitted.job().kind(), collector::BACKUP);
  EXPECT_EQ(submitted.job().backup_id(), submitted.backup().backup_id());

  auto seen = Watch(submitted.job().job_id());
  ASSERT_FALSE(seen.empty());
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_GE(seen[i].progress().bytes_done(), seen[i - 1].progress().bytes_done());
    EXPECT_GE(seen[i].progress().items_done(), seen[i - 1].progress().items_done());
    EXPECT_GE(seen[i].state(), seen[i - 1].state());
  }
  const collector::Job& last = seen.back();
  ASSERT_EQ(last.state(), collector::SUCCEEDED) << last.error().message();
  EXPECT_EQ(last.progress().bytes_done(), last.progress().bytes_total());
  EXPECT_EQ(last.progress().items_done(), 100);
  const auto& b = last.backup_result().backup();
  EXPECT_EQ(b.state(), collector::BACKUP_COMPLETED);
  EXPECT_EQ(b.record_count(), 10'000);
  EXPECT_EQ(b.file_count(), 100);

  // The default store, an archive: backups/<ns>/<name>/<id>.tar.zst below <data>/store.
  EXPECT_EQ(fs::path(b.storage_path()), layout().root() / "store" / "backups" / "prod" / "users" /
                                            (b.backup_id() + ".tar.zst"));
  EXPECT_EQ(b.store(), "local");
  EXPECT_EQ(b.compression(), "zstd");
  EXPECT_GT(b.stored_bytes(), 0);
  EXPECT_LT(b.stored_bytes(), b.size_bytes());
  const fs::path unpacked = UnpackArchive(b.storage_path(), dir_.path() / "unpacked");
  const fs::path db = unpacked / "database.sqlite";
  EXPECT_EQ(IntegrityCheck(db), "ok");
  EXPECT_EQ(CanonicalDump(db), CanonicalDump(layout().CollectionDb({"prod", "users"})));
  auto digest = HashFile(db, nullptr);
  ASSERT_TRUE(digest);
  EXPECT_EQ(digest->sha256, b.sha256());

  const fs::path source_files = layout().CollectionFilesDir({"prod", "users"});
  const fs::path copied = unpacked / "files";
  auto manifest = server_->store().GetManifest(b.backup_id());
  ASSERT_TRUE(manifest);
  ASSERT_EQ(manifest->size(), 100u);
  int64_t files_bytes = 0;
  for (const ManifestEntry& e : *manifest) {
    EXPECT_EQ(ReadFile(copied / e.path), ReadFile(source_files / e.path)) << e.path;
    EXPECT_EQ(HashFile(copied / e.path, nullptr)->sha256, e.sha256);
    files_bytes += e.size;
  }
  EXPECT_EQ(b.size_bytes(), digest->size + files_bytes);
  EXPECT_EQ(RegularFiles(copied).size(), 100u);
  for (const auto& e : fs::recursive_directory_iterator(layout().root() / "store")) {
    EXPECT_EQ(e.path().filename().string().find(".partial"), std::string::npos) << e.path();
  }
}

TEST_F(BackupEndToEnd, WaitAnswersWithTheFinishedBackup) {
  CreateCollection("prod", "users", 500);
  collector::BackupCollectionRequest request;
  request.mutable_collection()->set_namespace_("prod");
  request.mutable_collection()->set_name("users");
  request.set_wait(true);
  collector::BackupCollectionResponse response;
  auto status = repo_->BackupCollection(Ctx().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status().code(), collector::Status::OK);
  EXPECT_EQ(response.backup().state(), collector::BACKUP_COMPLETED);
  EXPECT_EQ(response.backup().record_count(), 500);
  EXPECT_EQ(response.bytes_transferred(), response.backup().size_bytes());
  EXPECT_EQ(response.job().state(), collector::SUCCEEDED);
}

TEST_F(BackupEndToEnd, BackupsNeverAppearInDiscover) {
  CreateCollection("prod", "users", 10);
  Watch(Backup("prod", "users").job().job_id());
  collector::DiscoverRequest request;
  collector::DiscoverResponse response;
  ASSERT_TRUE(repo_->Discover(Ctx().get(), request, &response).ok());
  ASSERT_EQ(response.collections_size(), 1);
  EXPECT_EQ(response.collections(0).name(), "users");
}

TEST_F(BackupEndToEnd, ListBackupsHonoursEveryFilterLimitAndOrder) {
  CreateCollection("prod", "a", 10);
  CreateCollection("prod", "b", 10);
  CreateCollection("dev", "a", 10);
  std::vector<std::string> submitted;
  for (auto [ns, name] : std::vector<std::pair<std::string, std::string>>{
           {"prod", "a"}, {"prod", "b"}, {"dev", "a"}, {"prod", "a"}, {"prod", "a"}}) {
    auto r = Backup(ns, name);
    submitted.push_back(r.backup().backup_id());
    Watch(r.job().job_id());
  }
  auto list = [&](auto fill) {
    collector::ListBackupsRequest request;
    fill(request);
    collector::ListBackupsResponse response;
    auto status = repo_->ListBackups(Ctx().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  };
  auto all = list([](auto&) {});
  EXPECT_EQ(all.status().code(), collector::Status::OK);
  ASSERT_EQ(all.backups_size(), 5);
  EXPECT_EQ(all.total_count(), 5);
  for (int i = 0; i < 5; ++i) {  // newest first
    EXPECT_EQ(all.backups(i).backup_id(), submitted[4 - i]);
    EXPECT_EQ(all.backups(i).state(), collector::BACKUP_COMPLETED);
  }
  auto prod_a = list([](auto& r) {
    r.mutable_collection()->set_namespace_("prod");
    r.mutable_collection()->set_name("a");
  });
  EXPECT_EQ(prod_a.backups_size(), 3);
  EXPECT_EQ(prod_a.total_count(), 3);
  auto prod = list([](auto& r) { r.set_namespace_("prod"); });
  EXPECT_EQ(prod.backups_size(), 4);
  auto limited = list([](auto& r) { r.set_limit(2); });
  EXPECT_EQ(limited.backups_size(), 2);
  EXPECT_EQ(limited.total_count(), 5);
  EXPECT_EQ(limited.backups(0).backup_id(), submitted[4]);
  const int64_t ts = all.backups(0).timestamp();
  auto future = list([&](auto& r) { r.set_since_timestamp(ts + 1); });
  EXPECT_EQ(future.backups_size(), 0);
  EXPECT_EQ(future.total_count(), 0);
  auto since = list([&](auto& r) { r.set_since_timestamp(all.backups(4).timestamp()); });
  EXPECT_EQ(since.total_count(), 5);
}

TEST_F(BackupEndToEnd, TwoBackupsOfOneCollectionInTheSameSecondGetDistinctIds) {
  CreateCollection("prod", "users", 100);
  std::set<std::string> ids, paths;
  std::vector<std::string> jobs;
  for (int i = 0; i < 5; ++i) {
    auto r = Backup("prod", "users");
    ids.insert(r.backup().backup_id());
    paths.insert(r.backup().storage_path());
    jobs.push_back(r.job().job_id());
  }
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_EQ(paths.size(), 5u);
  int n = 0;
  for (const auto& j : jobs) {
    auto done = Watch(j).back();
    ASSERT_EQ(done.state(), collector::SUCCEEDED);
    EXPECT_EQ(paths.count(done.backup_result().backup().storage_path()), 1u);
    const fs::path unpacked = UnpackArchive(done.backup_result().backup().storage_path(),
                                            dir_.path() / std::to_string(n++));
    EXPECT_EQ(IntegrityCheck(unpacked / "database.sqlite"), "ok");
  }
}

TEST_F(BackupEndToEnd, CancelQueuedBackupIsImmediateAndWritesNothing) {
  StopServer();
  StartServer(/*workers=*/0);
  CreateCollection("prod", "users", 100);
  auto r = Backup("prod", "users");
  collector::CancelJobRequest request;
  request.set_job_id(r.job().job_id());
  collector::CancelJobResponse response;
  ASSERT_TRUE(jobs_->CancelJob(Ctx().get(), request, &response).ok());
  EXPECT_EQ(response.job().state(), collector::CANCELLED);
  EXPECT_EQ(response.job().error().code(), collector::Status::CANCELLED);
  // A worker that starts later does not run it.
  StopServer();
  StartServer(2);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(GetJob(r.job().job_id()).state(), collector::CANCELLED);
  EXPECT_TRUE(RegularFiles(layout().BackupsRoot()).empty());
  EXPECT_EQ(server_->store().GetBackup(r.backup().backup_id())->state, BackupState::kCancelled);
}

TEST_F(BackupEndToEnd, CancelRunningBackupStopsWithinASecondAndLeavesNoFile) {
  // ~240 MB: large enough that the snapshot is still running when the cancel arrives.
  CreateCollection("prod", "big");
  FillRecords(layout().CollectionDb({"prod", "big"}), 60'000, 4'000);
  auto r = Backup("prod", "big");
  auto ctx = Ctx(120);
  collector::WatchJobRequest watch;
  watch.set_job_id(r.job().job_id());
  auto reader = jobs_->WatchJob(ctx.get(), watch);
  collector::Job job;
  std::chrono::steady_clock::time_point cancelled_at;
  bool cancelled = false;
  while (reader->Read(&job)) {
    // Mid-snapshot: the pages streaming into the archive (--snapshot pages, the default).
    if (!cancelled && job.state() == collector::RUNNING && job.progress().bytes_done() > 0) {
      collector::CancelJobRequest request;
      request.set_job_id(job.job_id());
      collector::CancelJobResponse response;
      ASSERT_TRUE(jobs_->CancelJob(Ctx().get(), request, &response).ok());
      cancelled_at = std::chrono::steady_clock::now();
      cancelled = true;
    }
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_TRUE(cancelled) << "the backup finished before it could be cancelled";
  auto took = std::chrono::steady_clock::now() - cancelled_at;
  EXPECT_EQ(job.state(), collector::CANCELLED) << collector::JobState_Name(job.state());
  EXPECT_LT(took, std::chrono::seconds(1));
  EXPECT_TRUE(RegularFiles(layout().BackupsRoot()).empty());
  EXPECT_EQ(server_->store().GetBackup(r.backup().backup_id())->state, BackupState::kCancelled);
}

// An archive's snapshot is the database's pages by default, free pages included; with
// --snapshot vacuum it is a compacted VACUUM INTO copy. Both restore to the same rows.
TEST_F(BackupEndToEnd, AnArchiveSnapshotIsThePagesOrWithVacuumACompactedCopy) {
  CreateCollection("prod", "users", 4000);
  const fs::path db = layout().CollectionDb({"prod", "users"});
  {
    auto conn = sql::Database::Open(db.string(), {});
    ASSERT_TRUE(conn);
    ASSERT_TRUE(conn->Exec("DELETE FROM records WHERE rowid > 1000"));
  }
  auto free_pages = [](const fs::path& path) {
    auto conn = sql::Database::Open(path.string(), {.read_only = true});
    return conn ? conn->QueryInt("PRAGMA freelist_count").value_or(-1) : -1;
  };
  ASSERT_GT(free_pages(db), 10);
  auto restore = [&](const std::string& id, const std::string& name) {
    collector::RestoreBackupRequest request;
    request.set_backup_id(id);
    request.set_dest_namespace("prod");
    request.set_dest_name(name);
    request.set_wait(true);
    collector::RestoreBackupResponse response;
    ASSERT_TRUE(repo_->RestoreBackup(Ctx().get(), request, &response).ok());
    ASSERT_EQ(response.status().code(), collector::Status::OK) << response.status().message();
    EXPECT_EQ(CanonicalDump(layout().CollectionDb({"prod", name})), CanonicalDump(db));
  };
  auto backed_up = [&] {
    auto r = Backup("prod", "users");
    EXPECT_EQ(Watch(r.job().job_id()).back().state(), collector::SUCCEEDED);
    return server_->store().GetBackup(r.backup().backup_id()).value();
  };
  const int64_t free_before = free_pages(db);
  auto pages = backed_up();
  restore(pages.id, "from-pages");

  EXPECT_EQ(free_pages(layout().CollectionDb({"prod", "from-pages"})), free_before);
  StopServer();
  options_.host.stores.snapshot = "vacuum";
  StartServer(2);
  auto vacuumed = backed_up();
  restore(vacuumed.id, "from-vacuum");
  EXPECT_EQ(free_pages(layout().CollectionDb({"prod", "from-vacuum"})), 0);
  EXPECT_LT(vacuumed.db_bytes, pages.db_bytes);
}

TEST_F(BackupEndToEnd, QueuedJobsSurviveARestart) {
  StopServer();
  StartServer(/*workers=*/0);
  CreateCollection("prod", "users", 1000);
  auto a = Backup("prod", "users");
  auto b = Backup("prod", "users");
  EXPECT_EQ(GetJob(a.job().job_id()).state(), collector::QUEUED);
  StopServer();
  StartServer(2);
  EXPECT_EQ(Watch(a.job().job_id()).back().state(), collector::SUCCEEDED);
  EXPECT_EQ(Watch(b.job().job_id()).back().state(), collector::SUCCEEDED);
}

TEST_F(BackupEndToEnd, DestWithAQuoteIsBoundNotSpliced) {
  CreateCollection("prod", "users", 100);
  const std::string dest = "it's'); DROP TABLE jobs; --.db";
  auto r = Backup("prod", "users", false, dest);
  EXPECT_EQ(Watch(r.job().job_id()).back().state(), collector::SUCCEEDED);
  EXPECT_EQ(IntegrityCheck(layout().BackupsRoot() / dest), "ok");
  EXPECT_EQ(RegularFiles(layout().BackupsRoot()).size(), 1u);
  EXPECT_EQ(GetJob(r.job().job_id()).state(), collector::SUCCEEDED);  // jobs table intact
}

struct BadRequest {
  std::string what;
  std::string ns, name;
  std::string dest;
  grpc::StatusCode code;
  std::string message_part;
};

TEST_F(BackupEndToEnd, BadInputIsRefusedWithAClearMessageAndWritesNothing) {
  CreateCollection("prod", "users", 100);
  const fs::path outside = dir_.path() / "outside";
  fs::create_directories(outside);
  fs::create_directory_symlink(outside, layout().BackupsRoot() / "escape");
  std::ofstream(layout().BackupsRoot() / "taken.db") << "x";
  const std::vector<BadRequest> cases = {
      {"empty namespace", "", "users", "", grpc::StatusCode::INVALID_ARGUMENT,
       "namespace is empty"},
      {"empty name", "prod", "", "", grpc::StatusCode::INVALID_ARGUMENT, "name is empty"},
      {"slash", "prod", "a/b", "", grpc::StatusCode::INVALID_ARGUMENT, "is invalid"},
      {"dotdot", "..", "users", "", grpc::StatusCode::INVALID_ARGUMENT, "is invalid"},
      {"nul", "prod", std::string("us\0ers", 6), "", grpc::StatusCode::INVALID_ARGUMENT,
       "is invalid"},
      {"too long", "prod", std::string(256, 'a'), "", grpc::StatusCode::INVALID_ARGUMENT,
       "256 bytes"},
      {"unknown", "prod", "nope", "", grpc::StatusCode::NOT_FOUND,
       "collection prod/nope not found"},
      {"outside", "prod", "users", "/etc/evil.db", grpc::StatusCode::PERMISSION_DENIED,
       "outside the allowed backup roots"},
      {"dotdot dest", "prod", "users", "../../evil.db", grpc::StatusCode::PERMISSION_DENIED,
       "outside"},
      {"symlink", "prod", "users", "escape/evil.db", grpc::StatusCode::PERMISSION_DENIED,
       "outside"},
      {"exists", "prod", "users", "taken.db", grpc::StatusCode::ALREADY_EXISTS, "already exists"},
      {"inside a files folder", "prod", "users", "prod/users/backup-1.db.files/evil.db",
       grpc::StatusCode::INVALID_ARGUMENT, "reserved for a backup's own files"},
      {"on a temporary name", "prod", "users", "backup-1.db.partial-2.db",
       grpc::StatusCode::INVALID_ARGUMENT, "reserved"},
      {"not a .db", "prod", "users", "notes.txt", grpc::StatusCode::INVALID_ARGUMENT,
       "must end in \".db\""},
      {"nul dest", "prod", "users", std::string("a\0b.db", 6), grpc::StatusCode::INVALID_ARGUMENT,
       "NUL"},
  };
  for (const BadRequest& c : cases) {
    collector::BackupCollectionRequest request;
    request.set_wait(false);
    request.mutable_collection()->set_namespace_(c.ns);
    request.mutable_collection()->set_name(c.name);
    request.set_dest_path(c.dest);
    collector::BackupCollectionResponse response;
    auto status = repo_->BackupCollection(Ctx().get(), request, &response);
    EXPECT_EQ(status.error_code(), c.code) << c.what << ": " << status.error_message();
    EXPECT_NE(status.error_message().find(c.message_part), std::string::npos)
        << c.what << ": " << status.error_message();
  }
  collector::BackupCollectionRequest missing;
  missing.set_wait(false);
  collector::BackupCollectionResponse response;
  EXPECT_EQ(repo_->BackupCollection(Ctx().get(), missing, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  EXPECT_TRUE(server_->store().ListJobs({})->jobs.empty());
  EXPECT_EQ(server_->store().ListBackups({})->total_count, 0);
  EXPECT_TRUE(RegularFiles(outside).empty());
  EXPECT_EQ(RegularFiles(layout().BackupsRoot()).size(), 1u);  // only taken.db
  // Still serving.
  EXPECT_EQ(Watch(Backup("prod", "users").job().job_id()).back().state(), collector::SUCCEEDED);
}

TEST_F(BackupEndToEnd, ListBackupsPagesByTokenAndByMessageSize) {
  CreateCollection("prod", "a", 5);
  std::set<std::string> made;
  for (int i = 0; i < 16; ++i) {
    collector::BackupCollectionRequest request;
    request.set_wait(false);
    request.mutable_collection()->set_namespace_("prod");
    request.mutable_collection()->set_name("a");
    for (int k = 0; k < 64; ++k)
      (*request.mutable_metadata())["k" + std::to_string(k)] =
          std::string(4000, 'm');  // 256 KB of metadata each: 16 of them pass 4 MiB
    collector::BackupCollectionResponse response;
    ASSERT_TRUE(repo_->BackupCollection(Ctx().get(), request, &response).ok());
    made.insert(response.backup().backup_id());
  }
  auto page = [&](const std::string& token, int limit) {
    collector::ListBackupsRequest request;
    request.set_page_token(token);
    request.set_limit(limit);
    collector::ListBackupsResponse response;
    auto status = repo_->ListBackups(Ctx().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  };
  for (int limit : {0, 5}) {
    std::vector<std::string> seen;
    std::string token;
    int pages = 0;
    do {
      auto r = page(token, limit);
      EXPECT_EQ(r.total_count(), 16);
      EXPECT_LT(r.ByteSizeLong(), 4u << 20);
      for (const auto& b : r.backups()) seen.push_back(b.backup_id());
      token = r.next_page_token();
      ++pages;
    } while (!token.empty() && pages < 20);
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), made) << "limit " << limit;
    EXPECT_EQ(seen.size(), 16u) << "no backup twice";
    EXPECT_GE(pages, limit == 0 ? 2 : 4) << "limit " << limit;
  }
  collector::ListBackupsRequest bad;
  bad.set_page_token("not-a-token");
  collector::ListBackupsResponse response;
  EXPECT_EQ(repo_->ListBackups(Ctx().get(), bad, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// ListJobs and Discover stop a page early by size too: 16 finished jobs whose results carry
// 256 KB of metadata each, and 16 collections with 256 KB of labels each.
TEST_F(BackupEndToEnd, ListJobsAndDiscoverPageByMessageSize) {
  CreateCollection("prod", "a", 5);
  std::map<std::string, std::string> big;
  for (int k = 0; k < 64; ++k) big["k" + std::to_string(k)] = std::string(4000, 'm');
  std::set<std::string> jobs_made;
  for (int i = 0; i < 16; ++i) {
    collector::BackupCollectionRequest request;
    request.set_wait(true);
    request.mutable_collection()->set_namespace_("prod");
    request.mutable_collection()->set_name("a");
    request.mutable_metadata()->insert(big.begin(), big.end());
    collector::BackupCollectionResponse response;
    auto status = repo_->BackupCollection(Ctx().get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    jobs_made.insert(response.job().job_id());
  }
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    collector::ListJobsRequest request;
    request.set_page_size(1000);
    request.set_page_token(token);
    collector::ListJobsResponse response;
    auto status = jobs_->ListJobs(Ctx().get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_LT(response.ByteSizeLong(), 4u << 20);
    for (const auto& j : response.jobs()) seen.push_back(j.job_id());
    token = response.next_page_token();
  } while (!token.empty() && ++pages < 20);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), jobs_made);
  EXPECT_EQ(seen.size(), 16u) << "no job twice";
  EXPECT_GE(pages, 1) << "one page cannot hold them all";

  std::set<std::string> made{"prod/a"};
  for (int i = 0; i < 16; ++i) {
    collector::CreateCollectionRequest request;
    request.mutable_collection()->set_namespace_("labelled");
    request.mutable_collection()->set_name("c" + std::to_string(i));
    request.mutable_collection()->mutable_metadata()->mutable_labels()->insert(big.begin(),
                                                                               big.end());
    collector::CreateCollectionResponse response;
    auto status = repo_->CreateCollection(Ctx().get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    made.insert("labelled/c" + std::to_string(i));
  }
  std::vector<std::string> found;
  token.clear();
  pages = 0;
  do {
    collector::DiscoverRequest request;
    request.set_page_size(1000);
    request.set_page_token(token);
    collector::DiscoverResponse response;
    auto status = repo_->Discover(Ctx().get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_LT(response.ByteSizeLong(), 4u << 20);
    for (const auto& c : response.collections()) {
      found.push_back(c.namespace_() + "/" + c.name());
    }
    token = response.next_page_token();
  } while (!token.empty() && ++pages < 20);
  EXPECT_EQ(std::set<std::string>(found.begin(), found.end()), made);
  EXPECT_EQ(found.size(), made.size()) << "no collection twice";
  EXPECT_GE(pages, 1) << "one page cannot hold them all";
}

TEST_F(BackupEndToEnd, UnknownJobIsNotFound) {
  collector::GetJobRequest request;
  request.set_job_id("job-nope");
  collector::GetJobResponse response;
  auto status = jobs_->GetJob(Ctx().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "job job-nope not found");
}

}  // namespace
}  // namespace backup::testing
