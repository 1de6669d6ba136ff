// A real S3 protocol server for the tests: s3rver (from the npm registry, installed by
// scripts/install-deps.sh) on a loopback port with a temporary folder, behind
// tests/s3/sigv4_front.py, which checks every request's SigV4 signature with botocore and
// can inject faults. Started by the constructor, killed by the destructor.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "storage/s3/s3_client.h"
#include "tests/process.h"
#include "tests/test_util.h"

namespace backup::testing {

class S3Server {
 public:
  // Creates `bucket` at start-up.
  explicit S3Server(std::string bucket = "test-bucket");
  ~S3Server();

  // "http://127.0.0.1:PORT": the signature-checking front.
  std::string endpoint() const;
  // A config for the bucket (and prefix), with s3rver's credentials and small parts.
  S3Config Config(const std::string& prefix = "") const;
  // "s3://bucket/prefix?endpoint=...".
  std::string Url(const std::string& prefix = "") const;

  // SIGKILLs s3rver (the front stays: requests get 503); Start() brings it back on the
  // same port and folder.
  void Kill();
  void Start();
  // The front's fault mode ("ok", "stall-puts", "fail-puts N").
  void SetFault(const std::string& mode) const;
  // Forgets the signatures the front refused so far (a test that signs wrongly on purpose);
  // any other refusal fails the test at destruction.
  void ForgetRefusals() const;
  // Files s3rver keeps for the bucket's objects (its folder layout), for corruption tests.
  std::filesystem::path ObjectFile(const std::string& key) const;

 private:
  TempDir dir_;
  std::string bucket_;
  int s3rver_port_ = 0;
  int front_port_ = 0;
  std::unique_ptr<Process> s3rver_;
  std::unique_ptr<Process> front_;
};

}  // namespace backup::testing
