// Names and path confinement (invariant 5).
#include "common/names.h"

#include <gtest/gtest.h>

#include <set>

#include "common/ids.h"
#include "tests/test_util.h"

namespace backup {
namespace {
namespace fs = std::filesystem;

TEST(ValidateName, AcceptsOrdinaryNames) {
  for (const char* ok : {"prod", "users", "a", "users-2025.11_22", "0abc"}) {
    EXPECT_TRUE(ValidateName(ok, "name")) << ok;
  }
}

TEST(ValidateName, RejectsWhatCouldLeaveItsFolder) {
  const std::string nul("a\0b", 3);
  for (const std::string& bad :
       {std::string(""), std::string("a/b"), std::string(".."), std::string("."),
        std::string(".hidden"), nul, std::string(256, 'a'), std::string("a b"), std::string("a\\b"),
        std::string("-rf"), std::string("a\nb")}) {
    auto s = ValidateName(bad, "name");
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
    EXPECT_NE(s.error().message().find("name"), std::string::npos);
  }
  EXPECT_TRUE(ValidateName(std::string(255, 'a'), "name"));
}

class ConfinePathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::weakly_canonical(dir_.path() / "root");
    fs::create_directories(root_ / "sub");
    fs::create_directories(dir_.path() / "outside");
  }
  testing::TempDir dir_;
  fs::path root_;
};

TEST_F(ConfinePathTest, AcceptsPathsInsideTheRoot) {
  EXPECT_EQ(*ConfinePath((root_ / "sub/x.db").string(), {root_}), root_ / "sub/x.db");
  EXPECT_EQ(*ConfinePath("new/dir/x.db", {root_}), root_ / "new/dir/x.db");  // relative to the root
  EXPECT_EQ(*ConfinePath((root_ / "sub/../y.db").string(), {root_}), root_ / "y.db");
}

TEST_F(ConfinePathTest, RejectsEscapes) {
  for (const std::string& bad :
       {(root_ / "../outside/x.db").string(), std::string("/etc/passwd"), std::string("../x.db"),
        root_.string(), (root_.string() + "2/x.db")}) {
    auto p = ConfinePath(bad, {root_});
    ASSERT_FALSE(p) << bad;
    EXPECT_EQ(p.error().code(), Code::kPermissionDenied) << bad;
  }
}

TEST_F(ConfinePathTest, RejectsEscapesThroughSymlinks) {
  fs::create_directory_symlink(dir_.path() / "outside", root_ / "link");
  auto p = ConfinePath((root_ / "link/x.db").string(), {root_});
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), Code::kPermissionDenied);
  fs::create_symlink("/etc/passwd", root_ / "file-link.db");
  EXPECT_FALSE(ConfinePath((root_ / "file-link.db").string(), {root_}));
}

TEST_F(ConfinePathTest, RejectsNulAndEmpty) {
  EXPECT_EQ(ConfinePath(std::string("a\0b", 3), {root_}).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(ConfinePath("", {root_}).error().code(), Code::kInvalidArgument);
}

TEST(BackupId, UniqueWithinTheSameNanosecond) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i)
    ids.insert(NewBackupId("prod", "users", 1'700'000'000'000'000'000));
  EXPECT_EQ(ids.size(), 1000u);
  EXPECT_EQ(ids.begin()->rfind("backup-", 0), 0u);
  EXPECT_EQ(ids.begin()->size(), 7u + 16u);
}

}  // namespace
}  // namespace backup
