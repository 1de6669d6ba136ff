// Transport security over real gRPC with certificates made by the openssl command line:
// TLS, mutual TLS, certificate rotation while serving, the refusal to serve a non-loopback
// address openly, and reflection only for authenticated callers.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include "common/sha256.h"
#include "tests/server_fixture.h"

namespace backup::testing {
namespace {

namespace fs = std::filesystem;

// A certificate authority in a folder, issuing certificates with the openssl CLI.
class TestCa {
 public:
  TestCa(fs::path dir, const std::string& name) : dir_(std::move(dir)), name_(name) {
    fs::create_directories(dir_);
    Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj '/CN=" +
        name + "' -keyout " + Key(name).string() + " -out " + cert().string());
  }
  fs::path cert() const { return dir_ / (name_ + ".pem"); }
  fs::path Key(const std::string& name) const { return dir_ / (name + ".key"); }
  fs::path Cert(const std::string& name) const { return dir_ / (name + ".pem"); }

  // A certificate for `name` (CN) valid for localhost and 127.0.0.1.
  void Issue(const std::string& name) const {
    const fs::path ext = dir_ / (name + ".ext");
    std::ofstream(ext) << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    const fs::path csr = dir_ / (name + ".csr");
    Run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/O=test/CN=" +
        name + "' -keyout " + Key(name).string() + " -out " + csr.string());
    Run("openssl x509 -req -days 2 -in " + csr.string() + " -CA " + cert().string() + " -CAkey " +
        Key(name_).string() + " -CAcreateserial -extfile " + ext.string() + " -out " +
        Cert(name).string());
  }

 private:
  static void Run(const std::string& command) {
    ASSERT_EQ(std::system((command + " 2>/dev/null").c_str()), 0) << command;
  }
  fs::path dir_;
  std::string name_;
};

std::string Slurp(const fs::path& p) { return ReadFile(p); }

std::shared_ptr<grpc::Channel> TlsChannel(int port, const fs::path& ca, const fs::path& cert = {},
                                          const fs::path& key = {}) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Slurp(ca);
  if (!cert.empty()) ssl.pem_cert_chain = Slurp(cert);
  if (!key.empty()) ssl.pem_private_key = Slurp(key);
  // An IP literal (the certificate names 127.0.0.1): "localhost" would go through c-ares,
  // whose resolver leaks a few bytes LeakSanitizer reports.
  return grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::SslCredentials(ssl));
}

grpc::Status Discover(const std::shared_ptr<grpc::Channel>& channel,
                      const std::string& token = "") {
  auto stub = collector::CollectionRepo::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  collector::DiscoverResponse out;
  return stub->Discover(&ctx, {}, &out);
}

class TlsTest : public ServerTest {
 protected:
  void SetUp() override {
    ca_.Issue("server");
    ca_.Issue("alice");
    rogue_.Issue("mallory");
    options_.tls.cert_file = ca_.Cert("server").string();
    options_.tls.key_file = ca_.Key("server").string();
  }
  int port() const { return server_->port(); }

  TestCa ca_{dir_.path() / "pki", "test-ca"};
  TestCa rogue_{dir_.path() / "rogue", "rogue-ca"};
};

TEST_F(TlsTest, ATlsServerAnswersTlsClientsThatTrustItsCaAndNoPlaintext) {
  StartServer(1);
  EXPECT_TRUE(Discover(TlsChannel(port(), ca_.cert())).ok());
  auto plain = grpc::CreateChannel("127.0.0.1:" + std::to_string(port()),
                                   grpc::InsecureChannelCredentials());
  EXPECT_EQ(Discover(plain).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Discover(TlsChannel(port(), rogue_.cert())).error_code(), grpc::StatusCode::UNAVAILABLE)
      << "a client that does not trust the server's CA must not talk to it";
}

TEST_F(TlsTest, MutualTlsAdmitsOnlyCertificatesOfTheClientCaAndNamesThePrincipal) {
  options_.tls.client_ca_file = ca_.cert().string();
  StartServer(1);
  EXPECT_NE(Discover(TlsChannel(port(), ca_.cert())).error_code(), grpc::StatusCode::OK);
  EXPECT_NE(Discover(TlsChannel(port(), ca_.cert(), rogue_.Cert("mallory"), rogue_.Key("mallory")))
                .error_code(),
            grpc::StatusCode::OK);
  auto alice = TlsChannel(port(), ca_.cert(), ca_.Cert("alice"), ca_.Key("alice"));
  ASSERT_TRUE(Discover(alice).ok());

  channel_ = alice;
  repo_ = collector::CollectionRepo::NewStub(channel_);
  jobs_ = collector::BackupJobs::NewStub(channel_);
  CreateCollection("prod", "users", 5);
  auto backup = Backup("prod", "users");
  EXPECT_NE(GetJob(backup.job().job_id()).submitted_by().find("CN=alice"), std::string::npos)
      << GetJob(backup.job().job_id()).submitted_by();
}

TEST_F(TlsTest, ARotatedCertificateIsServedWithoutARestart) {
  options_.tls.refresh_seconds = 1;
  StartServer(1);
  TestCa next(dir_.path() / "next", "next-ca");
  next.Issue("server");
  // Replace the files in place, key first, as a certificate manager would.
  fs::copy_file(next.Key("server"), ca_.Key("server"), fs::copy_options::overwrite_existing);
  fs::copy_file(next.Cert("server"), ca_.Cert("server"), fs::copy_options::overwrite_existing);
  bool rotated = false;
  for (int i = 0; i < 100 && !rotated; ++i) {
    rotated = Discover(TlsChannel(port(), next.cert())).ok();
    if (!rotated) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(rotated) << "the new certificate was not served within 10 s";
}

TEST_F(TlsTest, ANonLoopbackAddressNeedsTlsAndAnAuthFileOrInsecure) {
  const fs::path auth = dir_.path() / "auth.json";
  std::ofstream(auth) << R"({"tokens": [{"name": "a", "sha256": ")" << Sha256Hex("t")
                      << R"(", "role": "admin", "namespaces": ["*"]}]})";
  options_.host.data_dir = dir_.path() / "data";
  options_.listen = "0.0.0.0:0";
  BackupServerOptions open = options_;
  open.tls = {};
  auto refused = BackupServer::Start(open);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(refused.error().message().find("--insecure"), std::string::npos);

  BackupServerOptions tls_only = options_;  // TLS without tokens: anyone may still call
  EXPECT_FALSE(BackupServer::Start(tls_only));

  BackupServerOptions secured = options_;
  secured.auth_file = auth;
  auto started = BackupServer::Start(secured);
  ASSERT_TRUE(started) << started.error().message();
  (*started)->Shutdown();
  started->reset();

  open.insecure = true;
  auto insecure = BackupServer::Start(open);
  ASSERT_TRUE(insecure) << insecure.error().message();
  (*insecure)->Shutdown();
}

TEST_F(TlsTest, AKeyThatDoesNotMatchTheCertificateStopsTheStart) {
  options_.host.data_dir = dir_.path() / "data";
  options_.listen = "127.0.0.1:0";
  options_.tls.key_file = ca_.Key("alice").string();
  auto started = BackupServer::Start(options_);
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message().find("does not belong"), std::string::npos)
      << started.error().message();
}

TEST(Loopback, OnlyAddressesThisHostAloneReaches) {
  for (const char* local : {"127.0.0.1:50051", "127.1.2.3:1", "localhost:50051", "[::1]:50051",
                            "unix:/run/backupd.sock"}) {
    EXPECT_TRUE(IsLoopbackAddress(local)) << local;
  }
  for (const char* remote :
       {"0.0.0.0:50051", "[::]:50051", "10.0.0.1:50051", "backup.example.com:50051"}) {
    EXPECT_FALSE(IsLoopbackAddress(remote)) << remote;
  }
}

// One reflection call (list services): whether an answer came, and the final status.
std::pair<bool, grpc::Status> ListServicesByReflection(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& token) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  auto call =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  auto next = [&cq] {
    void* tag = nullptr;
    bool ok = false;
    cq.Next(&tag, &ok);
    return ok;
  };
  call->StartCall(nullptr);
  next();
  const std::string list_services("\x3a\x00", 2);  // field 7 (list_services) = ""
  grpc::Slice slice(list_services);
  grpc::ByteBuffer request(&slice, 1);
  call->Write(request, nullptr);
  next();
  call->WritesDone(nullptr);
  next();
  grpc::ByteBuffer response;
  call->Read(&response, nullptr);
  bool answered = next();
  grpc::Status status;
  call->Finish(&status, nullptr);
  next();
  cq.Shutdown();
  return {answered, status};
}

TEST(Reflection, AnswersAuthenticatedCallersOnly) {
  TempDir dir;
  const fs::path auth = dir.path() / "auth.json";
  std::ofstream(auth) << R"({"tokens": [{"name": "v", "sha256": ")" << Sha256Hex("viewer-token")
                      << R"(", "role": "viewer", "namespaces": ["prod"]}]})";
  BackupServerOptions options;
  options.host.data_dir = dir.path() / "data";
  options.listen = "127.0.0.1:0";
  options.host.pool.threads = 0;
  options.auth_file = auth;
  auto server = BackupServer::Start(options);
  ASSERT_TRUE(server) << server.error().message();
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->port()),
                                     grpc::InsecureChannelCredentials());
  auto [answered, status] = ListServicesByReflection(channel, "viewer-token");
  EXPECT_TRUE(answered);
  EXPECT_TRUE(status.ok()) << status.error_message();
  for (const std::string& token : {std::string(), std::string("wrong")}) {
    auto [refused_answer, refused] = ListServicesByReflection(channel, token);
    EXPECT_FALSE(refused_answer) << "token \"" << token << "\"";
    EXPECT_FALSE(refused.ok());
  }
  (*server)->Shutdown();
}

}  // namespace
}  // namespace backup::testing
