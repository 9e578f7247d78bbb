// Finding 8 of issue 13 (mesh TLS did not refuse at the handshake), as regression tests over
// real gRPC on loopback: foreign certificates (RSA, ECDSA, Ed25519 that is not a node
// certificate), a missing client certificate and a node outside allowed_peers fail the TLS
// handshake — the client sees UNAVAILABLE and no call reaches the handler — and each refusal is
// counted by reason; half-open handshakes are dropped after the deadline and capped; handler
// exceptions become INTERNAL instead of ending the process.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "fake_handler.h"
#include "mesh/common/metrics.h"
#include "mesh/common/strings.h"
#include "mesh/common/testing.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/net/grpc_transport.h"
#include "mesh/net/tls_identity.h"
#include "raw_peer_stub.h"
#include "x509_builder.h"

namespace mesh::net {
namespace {

using testing::FakeHandler;
using ::testing::HasSubstr;
using testing::RawDeliver;
using testing::RawStub;
using testing::SendAndWait;

// A value of mesh_net_refused_total{reason} (or another counter line prefix); -1 = absent.
double Metric(const MetricsRegistry& metrics, std::string_view line_prefix) {
  const std::string text = "\n" + metrics.RenderText();
  const std::string key = mesh::StrCat("\n", line_prefix, " ");
  const size_t at = text.find(key);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + key.size()));
}

double Refused(const MetricsRegistry& metrics, std::string_view reason) {
  return Metric(metrics, mesh::StrCat("mesh_net_refused_total{reason=\"", reason, "\"}"));
}

struct ForeignCert {
  std::string cert;
  std::string key;
};

// A self-signed certificate for `key` with the given names, made by OpenSSL.
ForeignCert Forge(EVP_PKEY* key, internal::CertificateNames names) {
  absl::StatusOr<std::string> cert = internal::SelfSignedCertificatePem(
      key, names, absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(1));
  absl::StatusOr<std::string> pem = internal::PrivateKeyPem(key);
  EXPECT_TRUE(cert.ok() && pem.ok());
  return {cert.value_or(""), pem.value_or("")};
}

internal::EvpPkeyPtr Ed25519Key() {
  return internal::EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
}

// A TCP connection to `address` ("127.0.0.1:port") that sends nothing: a half-open handshake.
int ConnectSilently(const std::string& address) {
  const size_t colon = address.rfind(':');
  sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends until a reply comes back or `patience` has passed: a new peer may first meet a full
// handshake cap.
absl::StatusOr<std::string> SendUntilAnswered(Transport& from, const Endpoint& to,
                                              const std::string& envelope,
                                              absl::Duration patience) {
  const absl::Time give_up = absl::Now() + patience;
  absl::StatusOr<std::string> r;
  do {
    r = SendAndWait(from, to, envelope);
    if (!r.ok()) absl::SleepFor(absl::Milliseconds(100));  // Pacing of a bounded retry.
  } while (!r.ok() && absl::Now() < give_up);
  return r;
}

// Waits (bounded by `guard`) until the server closed every one of `fds`; returns how many it
// closed and closes them all.
int WaitUntilClosedByServer(std::vector<int>& fds, absl::Duration guard) {
  std::vector<bool> closed(fds.size(), false);
  int n_closed = 0;
  const absl::Time give_up = absl::Now() + guard;
  while (n_closed < static_cast<int>(fds.size()) && absl::Now() < give_up) {
    std::vector<pollfd> pfds;
    std::vector<size_t> index;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (closed[i]) continue;
      pfds.push_back({.fd = fds[i], .events = POLLIN | POLLRDHUP, .revents = 0});
      index.push_back(i);
    }
    const int ready = poll(pfds.data(), pfds.size(), 200);
    if (ready <= 0) continue;
    for (size_t j = 0; j < pfds.size(); ++j) {
      if (pfds[j].revents == 0) continue;
      char buf[256];
      const ssize_t got = recv(pfds[j].fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (got <= 0) {  // EOF or reset: the server dropped it.
        closed[index[j]] = true;
        ++n_closed;
      }
    }
  }
  for (int fd : fds) close(fd);
  fds.clear();
  return n_closed;
}

class GrpcHostileTest : public ::testing::Test {
 protected:
  std::unique_ptr<Transport> Make(const crypto::KeyPair& key, Handler* handler,
                                  GrpcTransportOptions options = {}) {
    return testing::StartTransport(key, handler, std::move(options));
  }

  void SetUp() override {
    a_ = Make(key_a_, &handler_a_, {.metrics = &metrics_a_});
    b_ = Make(key_b_, &handler_b_, {.metrics = &metrics_b_});
    ASSERT_NE(a_, nullptr);
    ASSERT_NE(b_, nullptr);
  }

  Endpoint B() const { return {b_->address(), key_b_.did()}; }

  // A raw client with `cert` fails the handshake on b: UNAVAILABLE, the handler never called.
  void ExpectRefusedAtHandshake(const ForeignCert& cert) {
    auto stub = RawStub(b_->address(), cert.cert, cert.key);
    grpc::Status s = RawDeliver(*stub, "hello");
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
    EXPECT_TRUE(handler_b_.received().empty());
  }

  crypto::KeyPair key_a_ = crypto::KeyPair::Generate();
  crypto::KeyPair key_b_ = crypto::KeyPair::Generate();
  MetricsRegistry metrics_a_;
  MetricsRegistry metrics_b_;
  FakeHandler handler_a_;
  FakeHandler handler_b_;
  std::unique_ptr<Transport> a_;
  std::unique_ptr<Transport> b_;
};

TEST_F(GrpcHostileTest, RsaCertificateFailsTheHandshake) {
  internal::EvpPkeyPtr rsa(EVP_RSA_gen(2048));
  const std::string did = key_a_.did().ToString();  // Claims to be a, with a foreign key type.
  ExpectRefusedAtHandshake(Forge(rsa.get(), {.common_name = did, .uri_san = did}));
  EXPECT_GE(Refused(metrics_b_, "not_ed25519"), 1);
  EXPECT_EQ(Refused(metrics_b_, "not_node_cert"), 0);
}

TEST_F(GrpcHostileTest, EcCertificateFailsTheHandshake) {
  internal::EvpPkeyPtr ec(EVP_EC_gen("P-256"));
  ASSERT_NE(ec, nullptr);
  ExpectRefusedAtHandshake(
      Forge(ec.get(), {.common_name = "peer.example", .dns_san = "peer.example"}));
  EXPECT_GE(Refused(metrics_b_, "not_ed25519"), 1);
}

TEST_F(GrpcHostileTest, Ed25519CertificateThatIsNotANodeCertificateFailsTheHandshake) {
  internal::EvpPkeyPtr ed = Ed25519Key();
  ASSERT_NE(ed, nullptr);
  // The right key type, but no did:key names: an ordinary Ed25519 certificate.
  ExpectRefusedAtHandshake(
      Forge(ed.get(), {.common_name = "peer.example", .dns_san = kNodeTlsServerName}));
  EXPECT_GE(Refused(metrics_b_, "not_node_cert"), 1);
  EXPECT_EQ(Refused(metrics_b_, "not_ed25519"), 0);
}

TEST_F(GrpcHostileTest, CertificateClaimingAnotherNodesDidFailsTheHandshake) {
  internal::EvpPkeyPtr ed = Ed25519Key();
  const std::string victim = key_a_.did().ToString();
  ExpectRefusedAtHandshake(Forge(ed.get(), {.common_name = victim, .uri_san = victim}));
  EXPECT_GE(Refused(metrics_b_, "not_node_cert"), 1);
  // The same raw client with a genuine node certificate gets through.
  crypto::KeyPair other = crypto::KeyPair::Generate();
  ASSERT_OK_AND_ASSIGN(TlsIdentity genuine, MakeTlsIdentity(other, absl::Now()));
  auto good = RawStub(b_->address(), genuine.cert_pem, genuine.key_pem);
  grpc::Status s = RawDeliver(*good, "hello");
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(handler_b_.received().size(), 1u);
}

TEST_F(GrpcHostileTest, MissingClientCertificateIsRefusedAndCounted) {
  ExpectRefusedAtHandshake({});
  EXPECT_GE(Refused(metrics_b_, "no_client_cert"), 1);
  // b still serves its real peers.
  ASSERT_OK_AND_ASSIGN(std::string reply, SendAndWait(*a_, B(), "after"));
  EXPECT_EQ(reply, "reply:after");
}

TEST_F(GrpcHostileTest, AllowListIsEnforcedAtTheHandshakeOnBothSides) {
  MetricsRegistry metrics;
  FakeHandler handler;
  const crypto::DidKey allowed = key_a_.did();
  crypto::KeyPair key_c = crypto::KeyPair::Generate();
  std::unique_ptr<Transport> c =
      Make(key_c, &handler,
           {.admit = [allowed](const crypto::DidKey& did) { return did == allowed; },
            .metrics = &metrics});
  // An allowed node still works.
  ASSERT_OK_AND_ASSIGN(std::string reply, SendAndWait(*a_, {c->address(), key_c.did()}, "in"));
  EXPECT_EQ(reply, "reply:in");
  // A node outside the list fails the handshake; c's handler never sees it.
  absl::StatusOr<std::string> r = SendAndWait(*b_, {c->address(), key_c.did()}, "out");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_GE(Refused(metrics, "did_not_allowed"), 1);
  ASSERT_EQ(handler.received().size(), 1u);
  EXPECT_TRUE(handler.received()[0].peer == key_a_.did());
  // c dialling b (not allowed) refuses b's certificate itself, and says why.
  const double before = Refused(metrics, "did_not_allowed");
  r = SendAndWait(*c, {b_->address(), std::nullopt}, "to b");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr(key_b_.did().ToString()));
  EXPECT_THAT(r.status().message(), HasSubstr("allowed_peers"));
  EXPECT_GT(Refused(metrics, "did_not_allowed"), before);
  EXPECT_TRUE(handler_b_.received().empty());
}

TEST_F(GrpcHostileTest, ServerWithAnotherDidIsRefusedAndCountedByTheClient) {
  const crypto::DidKey other = crypto::KeyPair::Generate().did();
  absl::StatusOr<std::string> r = SendAndWait(*a_, {b_->address(), other}, "hello");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  EXPECT_GE(Refused(metrics_a_, "did_mismatch"), 1);
  EXPECT_TRUE(handler_b_.received().empty());
}

TEST_F(GrpcHostileTest, HandlerExceptionsBecomeInternalAndTheNodeStaysUp) {
  absl::StatusOr<std::string> r = SendAndWait(*a_, B(), "throw");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInternal) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("the fake handler threw"));
  absl::Status f = a_->FetchBlob(B(), "throw", absl::Seconds(10),
                                 [](std::string_view) { return absl::OkStatus(); });
  ASSERT_EQ(f.code(), absl::StatusCode::kInternal) << f;
  EXPECT_EQ(Metric(metrics_b_, "mesh_net_handler_errors_total"), 2);
  ASSERT_OK_AND_ASSIGN(std::string reply, SendAndWait(*a_, B(), "after"));
  EXPECT_EQ(reply, "reply:after");
}

// The server reads a blob ahead on a thread of its own: a reader that throws there still ends
// only its call, as INTERNAL, counted, and the node stays up.
TEST_F(GrpcHostileTest, BlobReaderExceptionsBecomeInternalAndTheNodeStaysUp) {
  size_t got = 0;
  absl::Status f = a_->FetchBlob(B(), "throw-on-read", absl::Seconds(10), [&](std::string_view c) {
    got += c.size();
    return absl::OkStatus();
  });
  ASSERT_EQ(f.code(), absl::StatusCode::kInternal) << f;
  EXPECT_THAT(f.message(), HasSubstr("the fake blob reader threw"));
  EXPECT_LE(got, kBlobChunkBytes);
  EXPECT_EQ(Metric(metrics_b_, "mesh_net_handler_errors_total"), 1);
  ASSERT_OK_AND_ASSIGN(std::string reply, SendAndWait(*a_, B(), "after"));
  EXPECT_EQ(reply, "reply:after");
}

TEST_F(GrpcHostileTest, HalfOpenHandshakesAreDroppedAfterTheDeadline) {
  constexpr int kHalfOpen = 500;
  const absl::Duration deadline = absl::Seconds(1);
  MetricsRegistry metrics;
  FakeHandler handler;
  crypto::KeyPair key_c = crypto::KeyPair::Generate();
  std::unique_ptr<Transport> c =
      Make(key_c, &handler,
           {.metrics = &metrics, .handshake_timeout = deadline, .max_handshakes = 1000});
  std::vector<int> fds;
  ::testing::internal::CaptureStderr();
  const absl::Time start = absl::Now();
  for (int i = 0; i < kHalfOpen; ++i) {
    const int fd = ConnectSilently(c->address());
    ASSERT_GE(fd, 0) << "connection " << i;
    fds.push_back(fd);
  }
  // Meanwhile a real peer connects and is served.
  ASSERT_OK_AND_ASSIGN(std::string reply,
                       SendAndWait(*a_, {c->address(), key_c.did()}, "meanwhile"));
  EXPECT_EQ(reply, "reply:meanwhile");
  // gRPC's default would hold each for 120 s; the guard is far below that.
  const int closed = WaitUntilClosedByServer(fds, absl::Seconds(15));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(closed, kHalfOpen);
  EXPECT_GE(took, deadline * 0.9);
  EXPECT_LT(took, deadline + absl::Seconds(5));
  std::printf("[measure] %d half-open handshakes dropped after %s (deadline %s)\n", closed,
              absl::FormatDuration(took).c_str(), absl::FormatDuration(deadline).c_str());
  // Each is counted once its deadline passed (the gate's loop looks every 250 ms).
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (Refused(metrics, "handshake_timeout") < kHalfOpen && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(50));  // Bounded wait for the gate's sweep, not a sync.
  }
  EXPECT_GE(Refused(metrics, "handshake_timeout"), kHalfOpen);
  EXPECT_EQ(Refused(metrics, "handshake_cap"), 0);
  // Counted, not logged: gRPC's line per timed-out handshake would let a flood fill the log.
  EXPECT_THAT(::testing::internal::GetCapturedStderr(),
              ::testing::Not(HasSubstr("cancel_check_peer")));
  // The established peer connection still works, and so does a new one.
  ASSERT_OK(SendAndWait(*a_, {c->address(), key_c.did()}, "after"));
  ASSERT_OK(SendAndWait(*b_, {c->address(), key_c.did()}, "new peer"));
}

TEST_F(GrpcHostileTest, HandshakesBeyondTheCapAreClosedAtOnce) {
  constexpr int kCap = 50;
  constexpr int kFlood = 200;
  MetricsRegistry metrics;
  FakeHandler handler;
  crypto::KeyPair key_c = crypto::KeyPair::Generate();
  std::unique_ptr<Transport> c =
      Make(key_c, &handler,
           {.metrics = &metrics, .handshake_timeout = absl::Seconds(3), .max_handshakes = kCap});
  // A peer connected before the flood keeps its connection: established ones never count.
  ASSERT_OK(SendAndWait(*a_, {c->address(), key_c.did()}, "before"));
  std::vector<int> fds;
  for (int i = 0; i < kFlood; ++i) {
    const int fd = ConnectSilently(c->address());
    ASSERT_GE(fd, 0) << "connection " << i;
    fds.push_back(fd);
  }
  ASSERT_OK_AND_ASSIGN(std::string reply, SendAndWait(*a_, {c->address(), key_c.did()}, "during"));
  EXPECT_EQ(reply, "reply:during");
  // Those over the cap are closed at accept, long before the 3 s deadline.
  std::vector<int> over(fds.begin() + kCap, fds.end());
  fds.resize(kCap);
  EXPECT_EQ(WaitUntilClosedByServer(over, absl::Seconds(2)), kFlood - kCap);
  EXPECT_EQ(Refused(metrics, "handshake_cap"), kFlood - kCap);
  // The rest are dropped at the deadline; then new peers connect again.
  EXPECT_EQ(WaitUntilClosedByServer(fds, absl::Seconds(10)), kCap);
  ASSERT_OK(SendUntilAnswered(*b_, {c->address(), key_c.did()}, "after", absl::Seconds(5)));
}

TEST_F(GrpcHostileTest, ConnectionsClosedBeforeTheirHandshakeDoNotHoldTheCap) {
  // Connect and close, or connect, send garbage and close: neither reaches a certificate check.
  // Before, each held a slot for the whole deadline, so 26 such connections a second kept a
  // node with the default cap (256, 10 s) closed to every new peer while holding nothing open.
  constexpr int kCap = 4;
  MetricsRegistry metrics;
  FakeHandler handler;
  crypto::KeyPair key_c = crypto::KeyPair::Generate();
  std::unique_ptr<Transport> c =
      Make(key_c, &handler,
           {.metrics = &metrics, .handshake_timeout = absl::Minutes(2), .max_handshakes = kCap});
  for (int i = 0; i < 5 * kCap; ++i) {
    const int fd = ConnectSilently(c->address());
    ASSERT_GE(fd, 0) << "connection " << i;
    if (i % 2 == 1) {
      constexpr std::string_view kGarbage = "GET / HTTP/1.1\r\n\r\n";
      ASSERT_EQ(send(fd, kGarbage.data(), kGarbage.size(), MSG_NOSIGNAL),
                static_cast<ssize_t>(kGarbage.size()));
    }
    close(fd);
  }
  // A new peer gets in long before the two-minute deadline frees anything.
  absl::StatusOr<std::string> r = SendUntilAnswered(*b_, {c->address(), key_c.did()},
                                                    "after the closed ones", absl::Seconds(20));
  ASSERT_OK(r);
  EXPECT_EQ(*r, "reply:after the closed ones");
  EXPECT_EQ(Refused(metrics, "handshake_timeout"), 0);
  // Connections still open keep their slots: the cap itself holds (at most kCap admitted).
  std::vector<int> open;
  for (int i = 0; i < 3 * kCap; ++i) open.push_back(ConnectSilently(c->address()));
  EXPECT_GE(WaitUntilClosedByServer(open, absl::Seconds(2)), 2 * kCap);
}

TEST(GrpcHostileOptionsTest, HandshakeLimitsAreChecked) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  EXPECT_EQ(MakeGrpcTransport(key, {.handshake_timeout = absl::Milliseconds(10)}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeGrpcTransport(key, {.max_handshakes = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mesh::net
