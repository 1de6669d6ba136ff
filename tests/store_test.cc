// The BackupStore contract, one typed suite run against every store: the local folder and
// S3 (a real s3rver behind a SigV4-checking front). Then the S3 store's own faults.
#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include <gtest/gtest.h>

#include "common/sha256.h"
#include "storage/local/local_store.h"
#include "storage/s3/s3_store.h"
#include "storage/store_config.h"
#include "tests/s3_server.h"
#include "tests/test_util.h"

namespace backup::testing {
namespace {
namespace fs = std::filesystem;

std::string Bytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

Status PutAllOrFail(BackupStore& store, const std::string& key, const std::string& data,
                    bool announce, size_t piece) {
  auto w = store.Put(key, announce ? std::optional<int64_t>(std::ssize(data)) : std::nullopt);
  if (!w) return Fail(w.error());
  for (size_t at = 0; at < data.size(); at += piece) {
    BACKUP_TRY((*w)->Write(std::string_view(data).substr(at, piece)), "write");
  }
  auto done = (*w)->Commit();
  if (!done) return Fail(done.error());
  EXPECT_EQ(done->size, std::ssize(data));
  EXPECT_EQ(done->key, key);
  return {};
}

// Writes `data` as `key` in pieces; a failure is reported (with its message) and returned.
Status PutAll(BackupStore& store, const std::string& key, const std::string& data,
              bool announce = true, size_t piece = 300'000) {
  Status put = PutAllOrFail(store, key, data, announce, piece);
  if (!put) std::cerr << "put " << key << ": " << put.error().message() << "\n";
  return put;
}

Result<std::string> GetAll(BackupStore& store, const std::string& key, int64_t offset = 0,
                           int64_t length = -1) {
  std::string out;
  size_t biggest = 0;
  Status got = store.Get(key, offset, length, [&](std::string_view piece) {
    biggest = std::max(biggest, piece.size());
    out.append(piece);
    return true;
  });
  if (!got) return Fail(got.error());
  EXPECT_LE(biggest, size_t{16} << 20) << "a read hands over bounded pieces";
  return out;
}

struct LocalFixture {
  TempDir dir;
  std::unique_ptr<BackupStore> store = std::move(*LocalStore::Open(dir.path()));
  // What is left on disk besides committed objects (partial files).
  std::vector<std::string> Leftovers() const {
    std::vector<std::string> out;
    for (auto& e : fs::recursive_directory_iterator(dir.path())) {
      if (e.path().filename().string().find(".partial-") != std::string::npos) {
        out.push_back(e.path().string());
      }
    }
    return out;
  }
};

struct S3Fixture {
  S3Server server;
  std::unique_ptr<S3Store> s3 = std::make_unique<S3Store>(server.Config("backups/"));
  BackupStore* store = s3.get();
  std::vector<std::string> Leftovers() const {
    auto uploads = s3->ListIncompleteUploads();
    if (!uploads) return {"(cannot list uploads: " + uploads.error().message() + ")"};
    return *uploads;
  }
};

template <typename F>
class StoreTest : public ::testing::Test {
 protected:
  BackupStore& store() { return *fixture_.store; }
  std::vector<std::string> Leftovers() const { return fixture_.Leftovers(); }
  F fixture_;
};

using Stores = ::testing::Types<LocalFixture, S3Fixture>;
TYPED_TEST_SUITE(StoreTest, Stores);

TYPED_TEST(StoreTest, SmallAndMultipartObjectsRoundTrip) {
  const std::string small = "abc";
  const std::string large = Bytes((17 << 20) + 123, 1);  // four 5 MiB parts on S3
  ASSERT_TRUE(PutAll(this->store(), "prod/users/small.bin", small));
  ASSERT_TRUE(PutAll(this->store(), "prod/users/large.bin", large, /*announce=*/false));
  EXPECT_EQ(GetAll(this->store(), "prod/users/small.bin").value(), small);
  auto back = GetAll(this->store(), "prod/users/large.bin");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_TRUE(*back == large);
  auto st = this->store().Stat("prod/users/large.bin");
  ASSERT_TRUE(st && *st);
  EXPECT_EQ((*st)->size, std::ssize(large));
  EXPECT_TRUE(this->Leftovers().empty());
}

TYPED_TEST(StoreTest, RangesReadExactlyTheBytesAskedFor) {
  const std::string data = Bytes(11 << 20, 2);
  ASSERT_TRUE(PutAll(this->store(), "r/data", data));
  const int64_t at = (5 << 20) - 3;
  EXPECT_TRUE(GetAll(this->store(), "r/data", at, 10).value() == data.substr(at, 10));
  EXPECT_TRUE(GetAll(this->store(), "r/data", at).value() == data.substr(at));
  auto past = GetAll(this->store(), "r/data", std::ssize(data) + 5, 10);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().code(), Code::kDataLoss) << past.error().message();
}

TYPED_TEST(StoreTest, AnAbortedOrDroppedWriterLeavesNothing) {
  {
    auto w = this->store().Put("gone/aborted", std::nullopt);
    ASSERT_TRUE(w);
    ASSERT_TRUE((*w)->Write(Bytes(12 << 20, 3)));
    (*w)->Abort();
  }
  {
    auto w = this->store().Put("gone/dropped", std::nullopt);
    ASSERT_TRUE(w);
    ASSERT_TRUE((*w)->Write(Bytes(7 << 20, 4)));
  }  // destroyed without Commit()
  EXPECT_FALSE(*this->store().Stat("gone/aborted"));
  EXPECT_FALSE(*this->store().Stat("gone/dropped"));
  EXPECT_TRUE(this->store().List("gone/")->empty());
  EXPECT_TRUE(this->Leftovers().empty());
}

TYPED_TEST(StoreTest, MoreOrFewerBytesThanAnnouncedFailTheCommit) {
  auto w = this->store().Put("sized/x", 10);
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->Write("12345"));
  EXPECT_FALSE((*w)->Commit());
  EXPECT_FALSE(*this->store().Stat("sized/x"));
  EXPECT_TRUE(this->Leftovers().empty());
}

TYPED_TEST(StoreTest, ListsByPrefixInKeyOrder) {
  for (const char* key : {"a/2", "a/1", "a/sub/3", "b/1", "ab/1"}) {
    ASSERT_TRUE(PutAll(this->store(), key, key));
  }
  std::vector<std::string> keys;
  auto listed = this->store().List("a/");
  ASSERT_TRUE(listed) << listed.error().message();
  for (const ObjectInfo& o : *listed) keys.push_back(o.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"a/1", "a/2", "a/sub/3"}));
  EXPECT_EQ(this->store().List("").value().size(), 5u);
  EXPECT_TRUE(this->store().List("none/").value().empty());
}

TYPED_TEST(StoreTest, DeleteRemovesAndMissingObjectsAreNotFound) {
  ASSERT_TRUE(PutAll(this->store(), "d/x", "x"));
  EXPECT_TRUE(this->store().Delete("d/x"));
  EXPECT_TRUE(this->store().Delete("d/x")) << "deleting twice is fine";
  EXPECT_FALSE(*this->store().Stat("d/x"));
  auto got = GetAll(this->store(), "d/x");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code(), Code::kNotFound);
}

TYPED_TEST(StoreTest, HostileKeysAreRefusedBeforeAnythingIsTouched) {
  for (const char* key :
       {"../x", "/etc/passwd", "a//b", "a/./b", "a/../../b", "a b", "", "a/", "x\n", "%2e%2e/x"}) {
    auto w = this->store().Put(key, 1);
    ASSERT_FALSE(w) << key;
    EXPECT_EQ(w.error().code(), Code::kInvalidArgument) << key;
    EXPECT_EQ(this->store().Get(key, 0, -1, [](std::string_view) { return true; }).error().code(),
              Code::kInvalidArgument)
        << key;
    EXPECT_FALSE(this->store().Stat(key)) << key;
    EXPECT_FALSE(this->store().Delete(key)) << key;
  }
  EXPECT_TRUE(this->store().List("").value().empty());
}

TYPED_TEST(StoreTest, CheckWritableLeavesNoProbe) {
  ASSERT_TRUE(this->store().CheckWritable("probe/"));
  EXPECT_TRUE(this->store().List("").value().empty());
}

TEST(LocalStoreTest, ObjectsArePrivateAndLinksAreNotFollowed) {
  TempDir dir, outside;
  auto store = LocalStore::Open(dir.path());
  ASSERT_TRUE(store);
  ASSERT_TRUE(PutAll(**store, "p/q/obj", "secret"));
  EXPECT_EQ(fs::status(dir.path() / "p/q/obj").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(fs::status(dir.path() / "p/q").permissions() & fs::perms::all, fs::perms::owner_all);
  fs::create_directory_symlink(outside.path(), dir.path() / "link");
  EXPECT_EQ((*store)->Put("link/x", 1).error().code(), Code::kPermissionDenied);
  std::ofstream(outside.path() / "target") << "outside";
  fs::create_symlink(outside.path() / "target", dir.path() / "p/ln");
  EXPECT_FALSE(GetAll(**store, "p/ln"));
  EXPECT_FALSE(fs::exists(outside.path() / "x"));
}

// --- S3 faults ----------------------------------------------------------------------------

TEST(S3StoreTest, WrongSecretOrKeyFailsAtOnceWithPermissionDenied) {
  S3Server server;
  for (const S3Credentials& wrong :
       {S3Credentials{"S3RVER", "not-the-secret", ""}, S3Credentials{"NOSUCHKEY", "S3RVER", ""}}) {
    S3Config config = server.Config();
    config.credentials = wrong;
    S3Store store(config);
    const auto start = std::chrono::steady_clock::now();
    Status put = PutAll(store, "x", "x");
    ASSERT_FALSE(put);
    EXPECT_EQ(put.error().code(), Code::kPermissionDenied) << put.error().message();
    EXPECT_NE(put.error().message().find("credentials"), std::string::npos);
    EXPECT_EQ(put.error().message().find(wrong.secret_key), std::string::npos)
        << "a secret is never in a message";
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2)) << "not retried";
  }
  server.ForgetRefusals();  // the wrong secret's, made on purpose
}

TEST(S3StoreTest, AMissingBucketIsNamed) {
  S3Server server;
  S3Config config = server.Config();
  config.bucket = "no-such-bucket";
  S3Store store(config);
  Status probe = store.CheckWritable("");
  ASSERT_FALSE(probe);
  EXPECT_EQ(probe.error().code(), Code::kFailedPrecondition) << probe.error().message();
  EXPECT_NE(probe.error().message().find("\"no-such-bucket\" does not exist"), std::string::npos)
      << probe.error().message();
}

TEST(S3StoreTest, FailedPartsAreRetried) {
  S3Server server;
  S3Store store(server.Config());
  server.SetFault("fail-puts 4");
  const std::string data = Bytes(12 << 20, 5);
  ASSERT_TRUE(PutAll(store, "retried", data));
  EXPECT_TRUE(GetAll(store, "retried").value() == data);
}

TEST(S3StoreTest, ServerKilledMidUploadAndStartedAgain) {
  S3Server server;
  S3Config config = server.Config();
  config.retry_base_ms = 500;
  config.max_tries = 8;
  S3Store store(config);
  const std::string data = Bytes(30 << 20, 6);
  auto w = store.Put("survivor", std::nullopt);
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->Write(std::string_view(data).substr(0, 11 << 20)));  // two parts sent
  server.Kill();
  std::thread restart([&] {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    server.Start();
  });
  Status rest = (*w)->Write(std::string_view(data).substr(11 << 20));
  auto done = rest ? (*w)->Commit() : Result<ObjectInfo>(Fail(rest.error()));
  restart.join();
  ASSERT_TRUE(done) << done.error().message();
  EXPECT_TRUE(GetAll(store, "survivor").value() == data);
  EXPECT_TRUE(store.ListIncompleteUploads().value().empty());
}

TEST(S3StoreTest, AStalledPartTimesOutAndTheUploadIsAborted) {
  S3Server server;
  S3Config config = server.Config();
  config.request_timeout_ms = 1'000;
  config.max_tries = 2;
  S3Store store(config);
  auto w = store.Put("stalled", std::nullopt);
  ASSERT_TRUE(w);
  server.SetFault("stall-puts");
  const auto start = std::chrono::steady_clock::now();
  Status wrote = (*w)->Write(Bytes(6 << 20, 7));
  auto done = wrote ? (*w)->Commit() : Result<ObjectInfo>(Fail(wrote.error()));
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().code(), Code::kUnavailable) << done.error().message();
  EXPECT_NE(done.error().message().find("gave up after 2 tries"), std::string::npos)
      << done.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  server.SetFault("ok");
  EXPECT_TRUE(store.ListIncompleteUploads().value().empty());
  EXPECT_FALSE(store.Stat("stalled").value());
}

TEST(S3StoreTest, TheStoreURLAndCredentialsParse) {
  auto config = ParseS3Url(
      "s3://my-bucket/some/prefix/?endpoint=http%3A%2F%2F127.0.0.1%3A9000"
      "&region=eu-west-1&part_size_mb=16&parts_in_flight=2");
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->bucket, "my-bucket");
  EXPECT_EQ(config->prefix, "some/prefix/");
  EXPECT_EQ(config->endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(config->region, "eu-west-1");
  EXPECT_EQ(config->part_size, 16 << 20);
  EXPECT_EQ(config->parts_in_flight, 2);
  for (const char* bad : {"s3://B/x", "s3://ok-bucket/../x", "s3://ok-bucket?part_size_mb=1",
                          "s3://ok-bucket?colour=red", "s3://ok-bucket?endpoint=ftp://x"}) {
    EXPECT_FALSE(ParseS3Url(bad)) << bad;
  }
  TempDir dir;
  std::ofstream(dir.path() / "credentials")
      << "[default]\naws_access_key_id = AK\naws_secret_access_key = SK\n"
         "[profile other]\naws_access_key_id=AK2\naws_secret_access_key=SK2\n";
  EXPECT_EQ(LoadCredentials(dir.path() / "credentials", "default")->secret_key, "SK");
  EXPECT_EQ(LoadCredentials(dir.path() / "credentials", "other")->access_key, "AK2");
  EXPECT_FALSE(LoadCredentials(dir.path() / "credentials", "missing"));
  EXPECT_EQ(ParseStoreFlag("offsite=s3://b/p")->name, "offsite");
  EXPECT_FALSE(ParseStoreFlag("Off Site=s3://b"));
}

}  // namespace
}  // namespace backup::testing
