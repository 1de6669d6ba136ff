// OrderedHasher (worker/ordered_hasher.h): files written in ranges out of order, from
// several threads, hash to the SHA-256 of their final bytes; a file left with a gap hashes
// to nothing; a stop ends it at once. AsyncSha256 (common/async_sha256.h): blocks handed
// over faster than it hashes them hash as their concatenation.
#include "worker/ordered_hasher.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "common/async_sha256.h"
#include "common/beneath.h"
#include "common/sha256.h"
#include "tests/test_util.h"

namespace backup::testing {
namespace {

class OrderedHasherTest : public ::testing::Test {
 protected:
  UniqueFd Create(const std::string& name) {
    UniqueFd fd(::open((dir_.path() / name).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600));
    EXPECT_GE(fd.get(), 0);
    return fd;
  }
  static void WriteAt(int fd, const std::string& bytes, int64_t at, int64_t length) {
    ASSERT_EQ(::pwrite(fd, bytes.data() + at, static_cast<size_t>(length), at), length);
  }
  TempDir dir_;
};

TEST_F(OrderedHasherTest, RangesWrittenOutOfOrderOnManyThreadsHashAsTheWholeFile) {
  std::mt19937 random(7);
  std::string big(static_cast<size_t>(9 << 20) + 123, '\0');
  for (char& c : big) c = static_cast<char>(random());
  const std::string small = "a file of a few bytes";
  UniqueFd big_fd = Create("big");
  UniqueFd empty_fd = Create("empty");
  UniqueFd small_fd = Create("small");
  OrderedHasher hasher(
      {{big_fd.get(), std::ssize(big)}, {empty_fd.get(), 0}, {small_fd.get(), std::ssize(small)}});
  // The big file in 4099-byte ranges, shuffled, over four threads; the small one last.
  std::vector<int64_t> starts;
  for (int64_t at = 0; at < std::ssize(big); at += 4099) starts.push_back(at);
  std::shuffle(starts.begin(), starts.end(), random);
  std::vector<std::thread> writers;
  for (size_t t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (size_t i = t; i < starts.size(); i += 4) {
        const int64_t length = std::min<int64_t>(4099, std::ssize(big) - starts[i]);
        WriteAt(big_fd.get(), big, starts[i], length);
        hasher.Written(0, starts[i], length);
      }
    });
  }
  for (auto& w : writers) w.join();
  WriteAt(small_fd.get(), small, 0, std::ssize(small));
  hasher.Written(2, 0, std::ssize(small));
  auto digests = hasher.Finish(false);
  ASSERT_TRUE(digests) << digests.error().message();
  EXPECT_EQ((*digests)[0], Sha256Hex(big));
  EXPECT_EQ((*digests)[1], Sha256Hex(""));
  EXPECT_EQ((*digests)[2], Sha256Hex(small));
}

TEST_F(OrderedHasherTest, AFileWithAGapHashesToNothingAndTheOthersStillHash) {
  const std::string bytes(100'000, 'x');
  UniqueFd gap = Create("gap");
  UniqueFd whole = Create("whole");
  OrderedHasher hasher({{gap.get(), std::ssize(bytes)}, {whole.get(), std::ssize(bytes)}});
  WriteAt(gap.get(), bytes, 0, 40'000);
  hasher.Written(0, 0, 40'000);
  WriteAt(gap.get(), bytes, 50'000, 50'000);  // 40,000-50,000 never written
  hasher.Written(0, 50'000, 50'000);
  WriteAt(whole.get(), bytes, 0, std::ssize(bytes));
  hasher.Written(1, 0, std::ssize(bytes));
  auto digests = hasher.Finish(false);
  ASSERT_TRUE(digests);
  EXPECT_EQ((*digests)[0], "");
  EXPECT_EQ((*digests)[1], Sha256Hex(bytes));
}

TEST_F(OrderedHasherTest, AStopEndsItWithoutWaitingForTheRest) {
  UniqueFd fd = Create("never");
  OrderedHasher hasher({{fd.get(), 1 << 20}});
  hasher.Written(0, 4096, 4096);  // the start never comes
  auto digests = hasher.Finish(true);
  ASSERT_TRUE(digests);
  EXPECT_EQ((*digests)[0], "");
}

TEST(AsyncSha256Test, BlocksHashAsTheirConcatenationInTheOrderGiven) {
  std::mt19937 random(11);
  std::string all;
  AsyncSha256 hash;
  for (int i = 0; i < 40; ++i) {
    auto block = std::make_shared<std::string>(static_cast<size_t>(random() % 300'000), '\0');
    for (char& c : *block) c = static_cast<char>(random());
    all += *block;
    hash.Add(block);
  }
  EXPECT_EQ(hash.Finish(), Sha256Hex(all));
}

}  // namespace
}  // namespace backup::testing
