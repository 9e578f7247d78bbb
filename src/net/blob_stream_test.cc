// The blob stream (blob_stream.h) on loopback, server and client alone: blobs arrive whole and
// in order over kept connections; the server's errors keep their codes; certificates are
// checked both ways (a server that is not the DID dialled, a client outside the allow-list or
// with a foreign certificate); a request over the size limit, a wrong magic, a dead port, a
// silent server, a full server, a source that fails half-way and shutdowns in the middle of a
// transfer each end with a clear error and no crash.
#include "blob_stream.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/internal/endian.h"
#include "mesh/common/metrics.h"
#include "mesh/common/rng.h"
#include "mesh/common/strings.h"
#include "mesh/common/testing.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/net/tls_identity.h"
#include "x509_builder.h"

namespace mesh::net::internal {
namespace {

using ::testing::HasSubstr;

std::string Bytes(size_t n, uint64_t seed) { return SeededRng(seed).Bytes(n); }

// Gives `good` bytes, then fails (a blob found corrupt half-way).
class FailingSource final : public cas::ByteSource {
 public:
  explicit FailingSource(size_t good) : left_(good) {}
  absl::StatusOr<size_t> Read(char* buffer, size_t size) override {
    if (left_ == 0) return absl::DataLossError("blob x is corrupted on disk");
    const size_t n = std::min(size, left_);
    std::memset(buffer, 'g', n);
    left_ -= n;
    return n;
  }

 private:
  size_t left_;
};

// Blocks every read until released (a transfer in progress, for shutdown tests).
class StallingSource final : public cas::ByteSource {
 public:
  explicit StallingSource(std::atomic<bool>* release) : release_(release) {}
  absl::StatusOr<size_t> Read(char* buffer, size_t size) override {
    if (first_) {  // One whole chunk, so that it is sent before the stall.
      first_ = false;
      std::memset(buffer, 's', size);
      return size;
    }
    while (!release_->load()) absl::SleepFor(absl::Milliseconds(5));  // test-only stall
    return 0;
  }

 private:
  std::atomic<bool>* release_;
  bool first_ = true;
};

double Counted(const MetricsRegistry& metrics, std::string_view line_prefix) {
  const std::string text = "\n" + metrics.RenderText();
  const size_t at = text.find(mesh::StrCat("\n", line_prefix, " "));
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(at + line_prefix.size() + 2));
}

class BlobStreamTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }

  void StartServer(BlobStreamServerOptions options) {
    if (server_ != nullptr) server_->Stop();
    server_.reset();
    auto identity = MakeTlsIdentity(server_key_, absl::Now());
    ASSERT_OK(identity.status());
    auto tls = TlsContext::Create(*identity, /*server=*/true);
    ASSERT_OK(tls.status());
    options.host = "127.0.0.1";
    options.tls = *tls;
    options.counters = counters_;
    auto server = BlobStreamServer::Listen(
        std::move(options),
        [this](const crypto::DidKey& peer,
               std::string_view request) -> absl::StatusOr<std::unique_ptr<cas::ByteSource>> {
          peers_.push_back(peer);
          if (request == "fail-half-way") return std::make_unique<FailingSource>(3 << 20);
          if (request == "stall") return std::make_unique<StallingSource>(&release_);
          auto it = blobs_.find(std::string(request));
          if (it == blobs_.end()) return absl::NotFoundError(mesh::StrCat("no blob ", request));
          return std::make_unique<cas::StringSource>(it->second);
        });
    ASSERT_OK(server.status());
    server_ = *std::move(server);
  }

  std::unique_ptr<BlobStreamClient> Client(const crypto::KeyPair& key,
                                           std::function<bool(const crypto::DidKey&)> admit = {}) {
    auto identity = MakeTlsIdentity(key, absl::Now());
    EXPECT_OK(identity.status());
    auto tls = TlsContext::Create(*identity, /*server=*/false);
    EXPECT_OK(tls.status());
    return std::make_unique<BlobStreamClient>(*tls, std::move(admit), client_counters_);
  }

  absl::Status Fetch(BlobStreamClient& client, std::string_view request, std::string* got,
                     BlobStreamClient::Path* path, std::optional<crypto::DidKey> did = std::nullopt,
                     absl::Duration timeout = absl::Seconds(20)) {
    if (!did.has_value()) did = server_key_.did();
    return client.Fetch(
        "127.0.0.1", server_->port(), did, request, timeout,
        [&](std::string_view chunk) {
          EXPECT_LE(chunk.size(), kBlobChunkBytes);
          got->append(chunk);
          return absl::OkStatus();
        },
        path);
  }

  // A TLS client that writes `bytes` raw after the handshake and returns the error frame's
  // status (code and message), for requests the client class would never send.
  absl::Status RawRequest(const std::string& bytes) {
    auto identity = MakeTlsIdentity(client_key_, absl::Now());
    EXPECT_OK(identity.status());
    auto tls = TlsContext::Create(*identity, /*server=*/false);
    bool reached = false;
    auto stream = TlsStream::Connect("127.0.0.1", server_->port(), *tls, absl::Seconds(2),
                                     absl::Seconds(10), &reached);
    if (!stream.ok()) return stream.status();
    if (absl::Status s = (*stream)->WriteAll(bytes); !s.ok()) return s;
    char head[12];
    if (absl::Status s = (*stream)->ReadFull(head, 12); !s.ok()) return s;
    EXPECT_EQ(absl::big_endian::Load32(head), kBlobStreamError);
    std::string message(absl::big_endian::Load32(head + 8), '\0');
    if (absl::Status s = (*stream)->ReadFull(message.data(), message.size()); !s.ok()) return s;
    return absl::Status(static_cast<absl::StatusCode>(absl::big_endian::Load32(head + 4)), message);
  }

  crypto::KeyPair server_key_ = crypto::KeyPair::Generate();
  crypto::KeyPair client_key_ = crypto::KeyPair::Generate();
  MetricsRegistry metrics_;
  MetricsRegistry client_metrics_;
  const RefusalCounters counters_ = RefusalCounters::Register(&metrics_);
  const RefusalCounters client_counters_ = RefusalCounters::Register(&client_metrics_);
  std::map<std::string, std::string> blobs_;
  std::vector<crypto::DidKey> peers_;
  std::atomic<bool> release_{false};
  std::unique_ptr<BlobStreamServer> server_;
};

TEST_F(BlobStreamTest, BlobsArriveWholeAndInOrderOverAKeptConnection) {
  blobs_["five"] = Bytes((5 << 20) + 17, 1);
  blobs_["empty"] = "";
  auto client = Client(client_key_);
  for (int i = 0; i < 3; ++i) {
    std::string got;
    BlobStreamClient::Path path = BlobStreamClient::Path::kAnswered;
    ASSERT_OK(Fetch(*client, "five", &got, &path));
    EXPECT_EQ(path, BlobStreamClient::Path::kAnswered);
    EXPECT_TRUE(got == blobs_["five"]) << "fetch " << i << ": " << got.size() << " bytes";
  }
  std::string empty;
  BlobStreamClient::Path path = BlobStreamClient::Path::kAnswered;
  ASSERT_OK(Fetch(*client, "empty", &empty, &path));
  EXPECT_TRUE(empty.empty());
  ASSERT_EQ(peers_.size(), 4u);
  EXPECT_TRUE(peers_[0] == client_key_.did());  // The server saw who asked, from its certificate.
  EXPECT_EQ(Counted(metrics_, "mesh_net_blob_requests_total{path=\"stream\"}"), 4);
}

TEST_F(BlobStreamTest, ServerErrorsKeepTheirCodeAndTheConnectionStaysUsable) {
  blobs_["a"] = Bytes(1000, 2);
  auto client = Client(client_key_);
  std::string got;
  BlobStreamClient::Path path = BlobStreamClient::Path::kAnswered;
  absl::Status missing = Fetch(*client, "nope", &got, &path);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  EXPECT_THAT(missing.message(), HasSubstr("no blob nope"));
  EXPECT_EQ(path, BlobStreamClient::Path::kAnswered);
  got.clear();
  absl::Status half = Fetch(*client, "fail-half-way", &got, &path);
  EXPECT_EQ(half.code(), absl::StatusCode::kDataLoss) << half;
  EXPECT_THAT(half.message(), HasSubstr("corrupted on disk"));
  EXPECT_EQ(got.size(), 3u << 20);  // What came before the failure, and nothing after.
  got.clear();
  ASSERT_OK(Fetch(*client, "a", &got, &path));
  EXPECT_EQ(got, blobs_["a"]);
}

TEST_F(BlobStreamTest, ASinkErrorEndsTheFetchAndTheNextOneWorks) {
  blobs_["big"] = Bytes(8 << 20, 3);
  auto client = Client(client_key_);
  BlobStreamClient::Path path = BlobStreamClient::Path::kAnswered;
  int calls = 0;
  absl::Status s = client->Fetch(
      "127.0.0.1", server_->port(), server_key_.did(), "big", absl::Seconds(20),
      [&](std::string_view) {
        ++calls;
        return absl::ResourceExhaustedError("disk full");
      },
      &path);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(calls, 1);
  std::string got;
  ASSERT_OK(Fetch(*client, "big", &got, &path));
  EXPECT_TRUE(got == blobs_["big"]);
}

TEST_F(BlobStreamTest, AServerThatIsNotTheDidDialledIsRefused) {
  blobs_["a"] = "x";
  auto client = Client(client_key_);
  std::string got;
  BlobStreamClient::Path path = BlobStreamClient::Path::kAnswered;
  const crypto::DidKey other = crypto::KeyPair::Generate().did();
  absl::Status s = Fetch(*client, "a", &got, &path, other);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_THAT(s.message(), HasSubstr("expected " + other.ToString()));
  // An answer: the caller must not try the blob another way.
  EXPECT_EQ(path, BlobStreamClient::Path::kAnswered);
  EXPECT_TRUE(got.empty());
  EXPECT_TRUE(peers_.empty());  // Nothing was asked of the server.
  EXPECT_EQ(Counted(client_metrics_, "mesh_net_refused_total{reason=\"did_mismatch\"}"), 1);
}

TEST_F(BlobStreamTest, AClientOutsideTheAllowListIsRefusedWithTheReason) {
  const crypto::DidKey allowed = crypto::KeyPair::Generate().did();
  StartServer({.admit = [allowed](const crypto::DidKey& d) { return d == allowed; }});
  blobs_["a"] = "x";
  auto client = Client(client_key_);
  std::string got;
  BlobStreamClient::Path path = BlobStreamClient::Path::kAnswered;
  absl::Status s = Fetch(*client, "a", &got, &path);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_THAT(s.message(), HasSubstr("allowed_peers"));
  EXPECT_TRUE(peers_.empty());
  EXPECT_EQ(Counted(metrics_, "mesh_net_refused_total{reason=\"did_not_allowed\"}"), 1);
}

TEST_F(BlobStreamTest, AForeignClientCertificateIsRefused) {
  EvpPkeyPtr ec(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  ASSERT_NE(ec, nullptr);
  auto cert = SelfSignedCertificatePem(ec.get(), {.common_name = "intruder"},
                                       absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(1));
  auto key = PrivateKeyPem(ec.get());
  ASSERT_OK(cert.status());
  ASSERT_OK(key.status());
  auto tls = TlsContext::Create({.cert_pem = *cert, .key_pem = *key, .did = client_key_.did()},
                                /*server=*/false);
  ASSERT_OK(tls.status());
  BlobStreamClient client(*tls, {}, {});
  blobs_["a"] = "x";
  std::string got;
  BlobStreamClient::Path path = BlobStreamClient::Path::kAnswered;
  absl::Status s = Fetch(client, "a", &got, &path);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_THAT(s.message(), HasSubstr("client certificate refused"));
  EXPECT_TRUE(peers_.empty());
  EXPECT_EQ(Counted(metrics_, "mesh_net_refused_total{reason=\"not_ed25519\"}"), 1);
}

TEST_F(BlobStreamTest, OversizedAndMalformedRequestsAreRefused) {
  std::string oversized(8, '\0');
  std::memcpy(oversized.data(), kBlobStreamMagic, 4);
  absl::big_endian::Store32(oversized.data() + 4, static_cast<uint32_t>(kMaxMessageBytes + 1));
  absl::Status big = RawRequest(oversized);
  EXPECT_EQ(big.code(), absl::StatusCode::kResourceExhausted) << big;
  EXPECT_THAT(big.message(), HasSubstr("exceeds the message limit"));
  EXPECT_EQ(Counted(metrics_, "mesh_net_refused_total{reason=\"too_large\"}"), 1);
  absl::Status garbage = RawRequest("GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(garbage.code(), absl::StatusCode::kInvalidArgument) << garbage;
  EXPECT_TRUE(peers_.empty());
}

TEST_F(BlobStreamTest, ADeadPortIsNotConnectedAndFailsFast) {
  const int port = server_->port();
  server_->Stop();
  auto client = Client(client_key_);
  BlobStreamClient::Path path = BlobStreamClient::Path::kAnswered;
  const absl::Time start = absl::Now();
  absl::Status s = client->Fetch(
      "127.0.0.1", port, server_key_.did(), "a", absl::Seconds(20),
      [](std::string_view) { return absl::OkStatus(); }, &path);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(path, BlobStreamClient::Path::kNoListener);  // The caller may use the gRPC port.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(BlobStreamTest, ASilentServerFailsWithinTheTimeout) {
  // Listens, never accepts: the TCP connection is made (the kernel's backlog), TLS never starts.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t size = sizeof(sa);
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &size);
  auto client = Client(client_key_);
  BlobStreamClient::Path path = BlobStreamClient::Path::kAnswered;
  const absl::Time start = absl::Now();
  absl::Status s = client->Fetch(
      "127.0.0.1", ntohs(sa.sin_port), server_key_.did(), "a", absl::Milliseconds(500),
      [](std::string_view) { return absl::OkStatus(); }, &path);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_EQ(path, BlobStreamClient::Path::kBusy);  // Nothing was asked: gRPC may be tried.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  close(fd);
}

TEST_F(BlobStreamTest, AFullServerClosesNewConnectionsAtAccept) {
  StartServer({.handshake_timeout = absl::Seconds(5), .max_connections = 1});
  blobs_["a"] = "x";
  // One connection that never handshakes holds the only slot.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(server_->port()));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  absl::SleepFor(absl::Milliseconds(100));  // let the accept loop take it
  auto client = Client(client_key_);
  std::string got;
  BlobStreamClient::Path path = BlobStreamClient::Path::kAnswered;
  absl::Status s = Fetch(*client, "a", &got, &path);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(path, BlobStreamClient::Path::kBusy);  // gRPC serves this fetch instead.
  EXPECT_EQ(Counted(metrics_, "mesh_net_refused_total{reason=\"handshake_cap\"}"), 1);
  close(fd);
  // The slot comes back once the silent connection has gone: a later fetch succeeds.
  absl::Status later;
  for (int i = 0; i < 50; ++i) {
    got.clear();
    later = Fetch(*client, "a", &got, &path);
    if (later.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));  // bounded wait for the server to reap the slot
  }
  ASSERT_OK(later);
  EXPECT_EQ(got, "x");
}

// Starts a fetch of the stalling blob on its own thread and returns once its first chunk came.
std::thread StartStalledFetch(BlobStreamClient& client, int port, const crypto::DidKey& server,
                              absl::Status* result) {
  auto started = std::make_shared<std::atomic<bool>>(false);
  std::thread fetch([&client, port, server, result, started] {
    BlobStreamClient::Path path = BlobStreamClient::Path::kAnswered;
    *result = client.Fetch(
        "127.0.0.1", port, server, "stall", absl::Seconds(60),
        [started](std::string_view) {
          *started = true;
          return absl::OkStatus();
        },
        &path);
  });
  while (!started->load()) absl::SleepFor(absl::Milliseconds(5));  // test-only wait
  return fetch;
}

TEST_F(BlobStreamTest, ShutdownCutsAFetchInProgress) {
  auto client = Client(client_key_);
  absl::Status result;
  std::thread fetch = StartStalledFetch(*client, server_->port(), server_key_.did(), &result);
  const absl::Time start = absl::Now();
  client->Shutdown();
  fetch.join();
  EXPECT_FALSE(result.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  release_ = true;
  server_->Stop();  // Returns: its connection's thread ends once the source is released.
}

TEST_F(BlobStreamTest, ServerStopCutsItsConnections) {
  auto client = Client(client_key_);
  absl::Status result;
  std::thread fetch = StartStalledFetch(*client, server_->port(), server_key_.did(), &result);
  std::thread stop([&] { server_->Stop(); });
  absl::SleepFor(absl::Milliseconds(50));
  release_ = true;  // the serving thread is inside the source: let it return
  stop.join();
  fetch.join();
  EXPECT_FALSE(result.ok());
}

// A server that answers every request with `reply` (raw bytes after the handshake): what a
// lying or broken peer could send. The client must refuse it with a clear error.
class RawServer {
 public:
  RawServer(const crypto::KeyPair& key, std::string reply) : reply_(std::move(reply)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa = {};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
    listen(fd_, 4);
    socklen_t size = sizeof(sa);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &size);
    port_ = ntohs(sa.sin_port);
    auto identity = MakeTlsIdentity(key, absl::Now());
    tls_ = *TlsContext::Create(*identity, /*server=*/true);
    thread_ = std::thread([this] {
      const int conn = accept(fd_, nullptr, nullptr);
      if (conn < 0) return;
      auto stream = TlsStream::ForServer(conn, tls_);
      if (!stream.ok() || !(*stream)->Accept(absl::Seconds(5)).ok()) return;
      char header[8];
      if (!(*stream)->ReadFull(header, 8).ok()) return;
      std::string request(absl::big_endian::Load32(header + 4), '\0');
      if (!(*stream)->ReadFull(request.data(), request.size()).ok()) return;
      (*stream)->WriteAll(reply_).IgnoreError();
      char rest;
      (*stream)->ReadFull(&rest, 1).IgnoreError();  // until the client hangs up
    });
  }
  ~RawServer() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  std::string reply_;
  int fd_ = -1;
  int port_ = 0;
  std::shared_ptr<const TlsContext> tls_;
  std::thread thread_;
};

std::string U32(uint32_t v) {
  std::string out(4, '\0');
  absl::big_endian::Store32(out.data(), v);
  return out;
}

TEST_F(BlobStreamTest, MalformedRepliesFromAServerAreRefused) {
  const struct {
    std::string reply;
    absl::StatusCode code;
    const char* says;
  } cases[] = {
      {U32(kBlobChunkBytes + 1) + "x", absl::StatusCode::kDataLoss, "over the limit"},
      {U32(kBlobStreamError) + U32(5) + U32(kMaxErrorBytes + 1), absl::StatusCode::kDataLoss,
       "malformed blob stream error"},
      {U32(kBlobStreamError) + U32(99) + U32(2) + "no", absl::StatusCode::kDataLoss,
       "malformed blob stream error"},
      {U32(10) + "short", absl::StatusCode::kDeadlineExceeded, "no progress"},  // truncated
      {U32(kBlobStreamError) + U32(5) + U32(7) + "missing", absl::StatusCode::kNotFound,
       "missing"},  // well formed: the server's own error, kept
  };
  for (const auto& c : cases) {
    RawServer server(server_key_, c.reply);
    auto client = Client(client_key_);
    BlobStreamClient::Path path = BlobStreamClient::Path::kBusy;
    std::string got;
    absl::Status s = client->Fetch(
        "127.0.0.1", server.port(), server_key_.did(), "a", absl::Seconds(1),
        [&](std::string_view chunk) {
          got.append(chunk);
          return absl::OkStatus();
        },
        &path);
    EXPECT_EQ(s.code(), c.code) << s << " for reply of " << c.reply.size() << " bytes";
    EXPECT_THAT(s.message(), HasSubstr(c.says));
    EXPECT_EQ(path, BlobStreamClient::Path::kAnswered);
    EXPECT_TRUE(got.empty() || got == "short") << got.size();
    client->Shutdown();
  }
}

}  // namespace
}  // namespace mesh::net::internal
