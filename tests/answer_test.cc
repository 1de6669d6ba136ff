// When a submission is answered, for clients that know jobs: wait = false answers at once
// with the job (even for a verify of a backup still pending, which then waits for it);
// no `wait` answers when the job has ended, unless backupd runs with
// --wait-by-default=false. (Clients of the Collector Backup API's own protos are in
// seed_client_test.cc.)
#include <gtest/gtest.h>

#include "tests/server_fixture.h"

namespace backup::testing {
namespace {

class AnswerTest : public ServerTest {
 protected:
  collector::BackupCollectionResponse Submit(std::optional<bool> wait, grpc::Status& status) {
    collector::BackupCollectionRequest request;
    request.mutable_collection()->set_namespace_("prod");
    request.mutable_collection()->set_name("users");
    if (wait) request.set_wait(*wait);
    collector::BackupCollectionResponse response;
    status = repo_->BackupCollection(Ctx().get(), request, &response);
    return response;
  }
};

TEST_F(AnswerTest, WaitFalseAnswersAtOnceAndAVerifyOfThePendingBackupWaitsForIt) {
  CreateCollection("prod", "users", 2'000);
  grpc::Status status;
  auto queued = Submit(false, status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(queued.job().state(), collector::QUEUED);
  EXPECT_EQ(queued.backup().state(), collector::BACKUP_PENDING);

  collector::VerifyBackupRequest verify;
  verify.set_backup_id(queued.backup().backup_id());
  verify.set_wait(false);
  collector::VerifyBackupResponse verifying;
  ASSERT_TRUE(repo_->VerifyBackup(Ctx().get(), verify, &verifying).ok());
  EXPECT_EQ(verifying.job().state(), collector::QUEUED);

  const auto verified = Watch(verifying.job().job_id()).back();
  ASSERT_EQ(verified.state(), collector::SUCCEEDED) << verified.error().message();
  EXPECT_TRUE(verified.verify_result().is_valid()) << verified.verify_result().error_message();
  // It ran after the backup's job had ended.
  EXPECT_GE(verified.started_at_ms(), GetJob(queued.job().job_id()).finished_at_ms());
}

TEST_F(AnswerTest, NoWaitAnswersWhenTheJobHasEndedWithTheFullResponse) {
  CreateCollection("prod", "users", 2'000);
  grpc::Status status;
  auto done = Submit(std::nullopt, status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(done.job().state(), collector::SUCCEEDED);
  EXPECT_EQ(done.backup().state(), collector::BACKUP_COMPLETED);
  EXPECT_EQ(done.backup().record_count(), 2'000);
  EXPECT_EQ(done.bytes_transferred(), done.backup().size_bytes());
}

TEST_F(AnswerTest, WaitByDefaultFalseAnswersRequestsWithoutWaitAtOnce) {
  StopServer();
  options_.wait_by_default = false;
  StartServer(/*workers=*/0);  // nothing runs: waiting would end only at the deadline
  CreateCollection("prod", "users", 10);
  grpc::Status status;
  auto queued = Submit(std::nullopt, status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(queued.job().state(), collector::QUEUED);
  EXPECT_EQ(queued.backup().state(), collector::BACKUP_PENDING);
}

}  // namespace
}  // namespace backup::testing
