// The registry over gRPC: CreateCollection and Discover with filters and paging.
#include <gtest/gtest.h>

#include "tests/server_fixture.h"

namespace backup::testing {
namespace {

using Collections = ServerTest;

grpc::Status Create(collector::CollectionRepo::Stub& repo, grpc::ClientContext* ctx,
                    const std::string& ns, const std::string& name,
                    std::map<std::string, std::string> labels = {}) {
  collector::CreateCollectionRequest request;
  request.mutable_collection()->set_namespace_(ns);
  request.mutable_collection()->set_name(name);
  request.mutable_collection()->mutable_metadata()->mutable_labels()->insert(labels.begin(),
                                                                             labels.end());
  collector::CreateCollectionResponse response;
  return repo.CreateCollection(ctx, request, &response);
}

TEST_F(Collections, CreateMakesTheDatabaseWithTheRecordsTable) {
  ASSERT_TRUE(Create(*repo_, Ctx().get(), "prod", "users").ok());
  FillRecords(layout().CollectionDb({"prod", "users"}), 3);
  EXPECT_EQ(IntegrityCheck(layout().CollectionDb({"prod", "users"})), "ok");
  EXPECT_TRUE(std::filesystem::is_directory(layout().CollectionFilesDir({"prod", "users"})));
}

TEST_F(Collections, CreateTwiceIsAlreadyExistsAndKeepsTheData) {
  ASSERT_TRUE(Create(*repo_, Ctx().get(), "prod", "users").ok());
  FillRecords(layout().CollectionDb({"prod", "users"}), 5);
  const std::string before = CanonicalDump(layout().CollectionDb({"prod", "users"}));
  auto status = Create(*repo_, Ctx().get(), "prod", "users");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(status.error_message(), "collection prod/users already exists");
  EXPECT_EQ(CanonicalDump(layout().CollectionDb({"prod", "users"})), before);
}

TEST_F(Collections, CreateRefusesBadNames) {
  EXPECT_EQ(Create(*repo_, Ctx().get(), "prod", "../x").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Create(*repo_, Ctx().get(), "", "x").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(std::filesystem::exists(layout().root() / "collections" / "x"));
}

TEST_F(Collections, DiscoverFiltersByNamespaceAndLabelsAndPages) {
  ASSERT_TRUE(Create(*repo_, Ctx().get(), "prod", "a", {{"team", "core"}, {"tier", "1"}}).ok());
  ASSERT_TRUE(Create(*repo_, Ctx().get(), "prod", "b", {{"team", "core"}}).ok());
  ASSERT_TRUE(Create(*repo_, Ctx().get(), "prod", "c", {{"team", "edge"}}).ok());
  ASSERT_TRUE(Create(*repo_, Ctx().get(), "dev", "a").ok());
  auto discover = [&](auto fill) {
    collector::DiscoverRequest request;
    fill(request);
    collector::DiscoverResponse response;
    auto status = repo_->Discover(Ctx().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<std::string> names;
    for (const auto& c : response.collections()) names.push_back(c.namespace_() + "/" + c.name());
    return std::make_pair(names, response.next_page_token());
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(discover([](auto&) {}).first, (V{"dev/a", "prod/a", "prod/b", "prod/c"}));
  EXPECT_EQ(discover([](auto& r) { r.set_namespace_("prod"); }).first,
            (V{"prod/a", "prod/b", "prod/c"}));
  EXPECT_EQ(discover([](auto& r) { (*r.mutable_label_filter())["team"] = "core"; }).first,
            (V{"prod/a", "prod/b"}));
  EXPECT_EQ(discover([](auto& r) {
              (*r.mutable_label_filter())["team"] = "core";
              (*r.mutable_label_filter())["tier"] = "1";
            }).first,
            (V{"prod/a"}));
  auto [first, token] = discover([](auto& r) { r.set_page_size(3); });
  EXPECT_EQ(first, (V{"dev/a", "prod/a", "prod/b"}));
  ASSERT_FALSE(token.empty());
  auto [second, end] = discover([&, t = token](auto& r) {
    r.set_page_size(3);
    r.set_page_token(t);
  });
  EXPECT_EQ(second, (V{"prod/c"}));
  EXPECT_TRUE(end.empty());
}

}  // namespace
}  // namespace backup::testing
