#include "tests/s3_server.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/loopback.h"

namespace backup::testing {
namespace fs = std::filesystem;

namespace {

void WaitFor(const std::function<bool()>& ready, const std::string& what) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!ready()) {
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << what << " did not start in 30 s";
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

S3Server::S3Server(std::string bucket) : bucket_(std::move(bucket)) {
  if (!fs::exists(S3RVER_PATH)) {
    ADD_FAILURE() << "s3rver is not installed at " << S3RVER_PATH
                  << ": run scripts/install-deps.sh";
    return;
  }
  fs::create_directories(dir_.path() / "s3rver");
  s3rver_port_ = FreeLoopbackPort();
  if (s3rver_port_ < 0) ADD_FAILURE() << "no free loopback port";
  Start();
  SetFault("ok");
  const fs::path port_file = dir_.path() / "front.port";
  front_ = std::make_unique<Process>(
      std::vector<std::string>{"/usr/bin/python3", SIGV4_FRONT_PATH, "--upstream",
                               "http://127.0.0.1:" + std::to_string(s3rver_port_), "--port-file",
                               port_file.string(), "--s3rver-dir",
                               (dir_.path() / "s3rver").string(), "--control",
                               (dir_.path() / "fault").string()},
      dir_.path() / "front.log");
  WaitFor([&] { return fs::exists(port_file); }, "the SigV4 front");
  std::ifstream(port_file) >> front_port_;
}

S3Server::~S3Server() {
  front_.reset();
  s3rver_.reset();
  std::ifstream log(dir_.path() / "front.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  // Every signature our client made must have been right.
  EXPECT_EQ(text.find("sigv4_front:"), std::string::npos) << text;
}

void S3Server::Start() {
  s3rver_ = std::make_unique<Process>(
      std::vector<std::string>{S3RVER_PATH, "-d", (dir_.path() / "s3rver").string(), "-a",
                               "127.0.0.1", "-p", std::to_string(s3rver_port_), "--silent",
                               "--configure-bucket", bucket_},
      dir_.path() / "s3rver.log");
  WaitFor([&] { return AcceptsOnLoopback(s3rver_port_); }, "s3rver");
}

void S3Server::Kill() { s3rver_.reset(); }

std::string S3Server::endpoint() const { return "http://127.0.0.1:" + std::to_string(front_port_); }

S3Config S3Server::Config(const std::string& prefix) const {
  S3Config c;
  c.bucket = bucket_;
  c.prefix = prefix;
  c.endpoint = endpoint();
  c.credentials = {"S3RVER", "S3RVER", ""};
  c.part_size = 5 << 20;
  c.parts_in_flight = 3;
  c.retry_base_ms = 100;
  return c;
}

std::string S3Server::Url(const std::string& prefix) const {
  return "s3://" + bucket_ + "/" + prefix + "?endpoint=" + endpoint();
}

void S3Server::SetFault(const std::string& mode) const {
  std::ofstream(dir_.path() / "fault") << mode << "\n";
}

void S3Server::ForgetRefusals() const { std::ofstream(dir_.path() / "front.log", std::ios::trunc); }

fs::path S3Server::ObjectFile(const std::string& key) const {
  return dir_.path() / "s3rver" / bucket_ / (key + "._S3rver_object");
}

}  // namespace backup::testing
