// backupd answers gRPC health checks.
#include <gtest/gtest.h>

#include "proto/health.grpc.pb.h"
#include "tests/server_fixture.h"

namespace backup::testing {
namespace {

using ServerHealth = ServerTest;

TEST_F(ServerHealth, ReportsServing) {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  auto status = stub->Check(Ctx().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

}  // namespace
}  // namespace backup::testing
