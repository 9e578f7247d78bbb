#include "mesh/net/grpc_transport.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <gtest/gtest.h>
#include <openssl/rsa.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "fake_handler.h"
#include "mesh/common/metrics.h"
#include "mesh/common/strings.h"
#include "mesh/common/testing.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/net/tls_identity.h"
#include "mesh_peer.grpc.pb.h"
#include "x509_builder.h"

namespace mesh::net {
namespace {

using testing::FakeHandler;
using ::testing::HasSubstr;
using testing::SendAndWait;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::string out(n, '\0');
  uint32_t x = seed;
  for (char& c : out) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return out;
}

// A gRPC stub that talks to a node with an arbitrary client certificate (as a foreign or
// forged client would), accepting any server certificate.
std::unique_ptr<pb::MeshPeer::Stub> RawStub(const std::string& address, const std::string& cert,
                                            const std::string& key) {
  namespace gx = grpc::experimental;
  auto provider = std::make_shared<gx::StaticDataCertificateProvider>(
      std::vector<gx::IdentityKeyCertPair>{{.private_key = key, .certificate_chain = cert}});
  gx::TlsChannelCredentialsOptions tls;
  tls.set_certificate_provider(provider);
  tls.watch_identity_key_cert_pairs();
  tls.set_verify_server_certs(false);
  tls.set_check_call_host(false);
  tls.set_certificate_verifier(std::make_shared<gx::NoOpCertificateVerifier>());
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxSendMessageSize(-1);
  args.SetSslTargetNameOverride(kNodeTlsServerName);
  return pb::MeshPeer::NewStub(grpc::CreateCustomChannel(address, gx::TlsCredentials(tls), args));
}

grpc::Status RawDeliver(pb::MeshPeer::Stub& stub, std::string envelope) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  pb::Frame request;
  request.set_envelope(std::move(envelope));
  pb::Frame reply;
  return stub.Deliver(&context, request, &reply);
}

class GrpcTransportTest : public ::testing::Test {
 protected:
  std::unique_ptr<Transport> Make(const crypto::KeyPair& key, Handler* handler,
                                  GrpcTransportOptions options = {}) {
    absl::StatusOr<std::unique_ptr<Transport>> t = MakeGrpcTransport(key, std::move(options));
    EXPECT_TRUE(t.ok()) << t.status();
    if (!t.ok()) return nullptr;
    if (handler != nullptr) {
      absl::Status s = (*t)->Start(handler);
      EXPECT_TRUE(s.ok()) << s;
    }
    return *std::move(t);
  }

  void SetUp() override {
    a_ = Make(key_a_, &handler_a_);
    b_ = Make(key_b_, &handler_b_, {.metrics = &metrics_b_});
    ASSERT_NE(a_, nullptr);
    ASSERT_NE(b_, nullptr);
  }

  Endpoint B() const { return {b_->address(), key_b_.did()}; }

  double Refused(std::string_view reason) {
    const std::string text = metrics_b_.RenderText();
    const std::string key = mesh::StrCat("mesh_net_refused_total{reason=\"", reason, "\"} ");
    const size_t at = text.find(key);
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + key.size()));
  }

  crypto::KeyPair key_a_ = crypto::KeyPair::Generate();
  crypto::KeyPair key_b_ = crypto::KeyPair::Generate();
  MetricsRegistry metrics_b_;
  FakeHandler handler_a_;
  FakeHandler handler_b_;
  std::unique_ptr<Transport> a_;
  std::unique_ptr<Transport> b_;
};

TEST_F(GrpcTransportTest, StartBindsARealPort) {
  EXPECT_THAT(b_->address(), ::testing::StartsWith("127.0.0.1:"));
  EXPECT_NE(b_->address(), "127.0.0.1:0");
  EXPECT_EQ(b_->Start(&handler_b_).code(), absl::StatusCode::kFailedPrecondition);
  std::unique_ptr<Transport> c =
      Make(crypto::KeyPair::Generate(), nullptr,
           {.listen = "127.0.0.1:0", .advertise = "node-c.example:7070"});
  EXPECT_EQ(c->address(), "node-c.example:7070");
}

TEST_F(GrpcTransportTest, SendRoundTripCarriesPeerDidAndClampedTtl) {
  ASSERT_OK_AND_ASSIGN(std::string reply, SendAndWait(*a_, B(), "hello", 3));
  EXPECT_EQ(reply, "reply:hello");
  // Without an expected DID any node certificate is accepted.
  ASSERT_OK_AND_ASSIGN(reply, SendAndWait(*a_, {b_->address(), std::nullopt}, "again", 99));
  EXPECT_EQ(reply, "reply:again");
  ASSERT_OK_AND_ASSIGN(reply, SendAndWait(*a_, B(), "negative", -4));
  // And back the other way.
  ASSERT_OK_AND_ASSIGN(reply, SendAndWait(*b_, {a_->address(), key_a_.did()}, "back"));
  EXPECT_EQ(reply, "reply:back");

  const auto got = handler_b_.received();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(got[0].peer == key_a_.did());
  EXPECT_EQ(got[0].envelope, "hello");
  EXPECT_EQ(got[0].ttl, 3);
  EXPECT_EQ(got[1].ttl, kMaxTtl);
  EXPECT_EQ(got[2].ttl, 0);
  ASSERT_EQ(handler_a_.received().size(), 1u);
  EXPECT_TRUE(handler_a_.received()[0].peer == key_b_.did());
}

TEST_F(GrpcTransportTest, EmptyReplyMeansNoReply) {
  ASSERT_OK_AND_ASSIGN(std::string reply, SendAndWait(*a_, B(), "silent"));
  EXPECT_EQ(reply, "");
}

TEST_F(GrpcTransportTest, EndpointDidMismatchIsRefusedInTheHandshake) {
  const crypto::DidKey other = crypto::KeyPair::Generate().did();
  absl::StatusOr<std::string> r = SendAndWait(*a_, {b_->address(), other}, "hello");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr(key_b_.did().ToString()));
  EXPECT_THAT(r.status().message(), HasSubstr(other.ToString()));
  EXPECT_TRUE(handler_b_.received().empty());
  // FetchBlob checks the same way.
  absl::Status f = a_->FetchBlob({b_->address(), other}, "x", absl::Seconds(10),
                                 [](std::string_view) { return absl::OkStatus(); });
  EXPECT_EQ(f.code(), absl::StatusCode::kPermissionDenied) << f;
}

TEST_F(GrpcTransportTest, ClientWithRsaCertificateIsRefused) {
  internal::EvpPkeyPtr rsa(EVP_RSA_gen(2048));
  const std::string did = key_a_.did().ToString();  // Claims to be a, with a foreign key type.
  ASSERT_OK_AND_ASSIGN(std::string cert,
                       internal::SelfSignedCertificatePem(
                           rsa.get(), {.common_name = did, .uri_san = did},
                           absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(1)));
  ASSERT_OK_AND_ASSIGN(std::string key, internal::PrivateKeyPem(rsa.get()));
  auto stub = RawStub(b_->address(), cert, key);
  grpc::Status s = RawDeliver(*stub, "hello");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("RSA"));
  EXPECT_TRUE(handler_b_.received().empty());
  EXPECT_EQ(Refused("certificate"), 1);
}

TEST_F(GrpcTransportTest, ClientCertificateClaimingAnotherDidIsRefused) {
  crypto::KeyPair forger = crypto::KeyPair::Generate();
  const std::string seed = forger.SeedForTls();
  internal::EvpPkeyPtr pkey(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()), 32));
  const std::string victim = key_a_.did().ToString();
  ASSERT_OK_AND_ASSIGN(std::string cert,
                       internal::SelfSignedCertificatePem(
                           pkey.get(), {.common_name = victim, .uri_san = victim},
                           absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(1)));
  ASSERT_OK_AND_ASSIGN(std::string key, internal::PrivateKeyPem(pkey.get()));
  auto stub = RawStub(b_->address(), cert, key);
  grpc::Status s = RawDeliver(*stub, "hello");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("claims"));
  EXPECT_TRUE(handler_b_.received().empty());
  EXPECT_EQ(Refused("certificate"), 1);

  // The same raw client with a genuine node certificate gets through.
  ASSERT_OK_AND_ASSIGN(TlsIdentity genuine, MakeTlsIdentity(forger, absl::Now()));
  auto good = RawStub(b_->address(), genuine.cert_pem, genuine.key_pem);
  EXPECT_TRUE(RawDeliver(*good, "hello").ok());
}

TEST_F(GrpcTransportTest, ClientWithoutCertificateCannotConnect) {
  namespace gx = grpc::experimental;
  gx::TlsChannelCredentialsOptions tls;
  tls.set_verify_server_certs(false);
  tls.set_check_call_host(false);
  tls.set_certificate_verifier(std::make_shared<gx::NoOpCertificateVerifier>());
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto stub = pb::MeshPeer::NewStub(
      grpc::CreateCustomChannel(b_->address(), gx::TlsCredentials(tls), args));
  grpc::Status s = RawDeliver(*stub, "hello");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_TRUE(handler_b_.received().empty());
}

TEST_F(GrpcTransportTest, AdmitFalseIsPermissionDenied) {
  MetricsRegistry metrics;
  const crypto::DidKey allowed = crypto::KeyPair::Generate().did();
  FakeHandler handler;
  std::unique_ptr<Transport> c =
      Make(crypto::KeyPair::Generate(), &handler,
           {.admit = [allowed](const crypto::DidKey& did) { return did == allowed; },
            .metrics = &metrics});
  absl::StatusOr<std::string> r = SendAndWait(*a_, {c->address(), std::nullopt}, "hello");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr(key_a_.did().ToString()));
  EXPECT_THAT(r.status().message(), HasSubstr("not admitted"));
  EXPECT_TRUE(handler.received().empty());
  EXPECT_THAT(metrics.RenderText(), HasSubstr("mesh_net_refused_total{reason=\"not_admitted\"} 1"));
}

TEST_F(GrpcTransportTest, OversizedFrameIsResourceExhausted) {
  // Refused by the sender before it reaches the wire.
  absl::StatusOr<std::string> r = SendAndWait(*a_, B(), std::string(kMaxMessageBytes + 1, 'x'));
  ASSERT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("1048576"));
  // A maximal envelope passes.
  ASSERT_OK(SendAndWait(*a_, B(), std::string(kMaxMessageBytes, 'x')));

  // A client that does not check: refused by the receiver, counted, handler not called.
  ASSERT_OK_AND_ASSIGN(TlsIdentity id, MakeTlsIdentity(key_a_, absl::Now()));
  auto stub = RawStub(b_->address(), id.cert_pem, id.key_pem);
  grpc::Status s = RawDeliver(*stub, std::string(kMaxMessageBytes + 1, 'x'));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(Refused("too_large"), 1);
  // Far beyond the limit gRPC itself refuses the frame before buffering it.
  s = RawDeliver(*stub, std::string(3 * kMaxMessageBytes, 'x'));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(handler_b_.received().size(), 1u);
}

TEST_F(GrpcTransportTest, HandlerErrorCodePropagates) {
  handler_b_.set_error(absl::FailedPreconditionError("bid window closed"));
  absl::StatusOr<std::string> r = SendAndWait(*a_, B(), "fail");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("bid window closed"));
  EXPECT_THAT(r.status().message(), HasSubstr(b_->address()));
  handler_b_.set_error(absl::NotFoundError("no such job"));
  EXPECT_EQ(SendAndWait(*a_, B(), "fail").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(GrpcTransportTest, DeadPeerFailsFastWithUnavailable) {
  std::unique_ptr<Transport> c = Make(crypto::KeyPair::Generate(), &handler_b_);
  const std::string dead = c->address();
  c->Shutdown();
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> r = SendAndWait(*a_, {dead, std::nullopt}, "hello", 1,
                                              /*timeout=*/absl::Seconds(20));
  const absl::Duration took = absl::Now() - start;
  ASSERT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr(dead));
  EXPECT_LT(took, absl::Seconds(5));
  std::printf("[measure] Send to a dead peer failed after %s\n",
              absl::FormatDuration(took).c_str());
}

TEST_F(GrpcTransportTest, SlowHandlerGivesDeadlineExceeded) {
  absl::StatusOr<std::string> r =
      SendAndWait(*a_, B(), "block", 1, /*timeout=*/absl::Milliseconds(300));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_TRUE(handler_b_.WaitBlocked());
  handler_b_.Release();
  // The connection is still good afterwards.
  ASSERT_OK_AND_ASSIGN(std::string reply, SendAndWait(*a_, B(), "after"));
  EXPECT_EQ(reply, "reply:after");
}

TEST_F(GrpcTransportTest, ShutdownCancelsCallsInFlight) {
  struct Result {
    absl::Notification done;
    absl::Status status;
  } result;
  a_->Send(B(), "block", 1, absl::Seconds(60), [&result](absl::StatusOr<std::string> r) {
    result.status = r.status();
    result.done.Notify();
  });
  ASSERT_TRUE(handler_b_.WaitBlocked());
  a_->Shutdown();  // Returns once the callback has run.
  EXPECT_TRUE(result.done.HasBeenNotified());
  EXPECT_EQ(result.status.code(), absl::StatusCode::kCancelled) << result.status;
  handler_b_.Release();
  EXPECT_EQ(SendAndWait(*a_, B(), "late").status().code(), absl::StatusCode::kCancelled);
  a_->Shutdown();  // Idempotent.
}

TEST_F(GrpcTransportTest, FetchBlobStreamsFiveMebibytesInOrder) {
  const std::string blob = RandomBytes(5 << 20, 7);
  handler_b_.AddBlob("blob-1", blob);
  std::string got;
  int chunks = 0;
  ASSERT_OK(a_->FetchBlob(B(), "blob-1", absl::Seconds(30), [&](std::string_view chunk) {
    EXPECT_LE(chunk.size(), kBlobChunkBytes);
    got.append(chunk);
    ++chunks;
    return absl::OkStatus();
  }));
  EXPECT_EQ(got.size(), blob.size());
  EXPECT_TRUE(got == blob);
  EXPECT_EQ(chunks, static_cast<int>((5 << 20) / kBlobChunkBytes));
  ASSERT_EQ(handler_b_.blob_peers().size(), 1u);
  EXPECT_TRUE(handler_b_.blob_peers()[0] == key_a_.did());
}

TEST_F(GrpcTransportTest, FetchBlobNotFoundPropagates) {
  absl::Status s = a_->FetchBlob(B(), "missing", absl::Seconds(10),
                                 [](std::string_view) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_THAT(s.message(), HasSubstr("missing"));
}

TEST_F(GrpcTransportTest, FetchBlobSinkErrorAborts) {
  handler_b_.AddBlob("big", RandomBytes(8 << 20, 3));
  int calls = 0;
  absl::Status s = a_->FetchBlob(B(), "big", absl::Seconds(30), [&](std::string_view) {
    ++calls;
    return absl::DataLossError("disk full");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_EQ(calls, 1);
  // The channel still works.
  ASSERT_OK(SendAndWait(*a_, B(), "after"));
}

TEST_F(GrpcTransportTest, ReconnectsToAPeerRestartedOnTheSamePort) {
  ASSERT_OK(SendAndWait(*a_, B(), "first"));
  const std::string address = b_->address();
  b_->Shutdown();
  EXPECT_EQ(SendAndWait(*a_, B(), "while down").status().code(), absl::StatusCode::kUnavailable);

  FakeHandler handler;
  std::unique_ptr<Transport> b2 = Make(key_b_, &handler, {.listen = address});
  ASSERT_EQ(b2->address(), address);
  // The channel may sit in reconnect backoff (100 ms, growing) for a moment: retry, bounded.
  const absl::Time give_up = absl::Now() + absl::Seconds(15);
  absl::StatusOr<std::string> r;
  int attempts = 0;
  do {
    ++attempts;
    r = SendAndWait(*a_, B(), "again");
    if (!r.ok()) {
      ASSERT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
      absl::SleepFor(absl::Milliseconds(50));  // Pacing of the bounded retry, not a sync.
    }
  } while (!r.ok() && absl::Now() < give_up);
  ASSERT_OK(r);
  EXPECT_EQ(*r, "reply:again");
  std::printf("[measure] reconnected after %d attempt(s)\n", attempts);
}

TEST_F(GrpcTransportTest, MeasureLatencyAndBlobThroughput) {
  ASSERT_OK(SendAndWait(*a_, B(), "warm-up"));
  constexpr int kRounds = 500;
  absl::Time start = absl::Now();
  for (int i = 0; i < kRounds; ++i) ASSERT_OK(SendAndWait(*a_, B(), "ping"));
  const absl::Duration rtt = (absl::Now() - start) / kRounds;

  const std::string blob = RandomBytes(64 << 20, 11);
  handler_b_.AddBlob("blob-64", blob);
  size_t total = 0;
  start = absl::Now();
  ASSERT_OK(a_->FetchBlob(B(), "blob-64", absl::Seconds(120), [&](std::string_view chunk) {
    total += chunk.size();
    return absl::OkStatus();
  }));
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  EXPECT_EQ(total, blob.size());
  std::printf("[measure] Send round trip over loopback mTLS: %.1f us (mean of %d)\n",
              absl::ToDoubleMicroseconds(rtt), kRounds);
  std::printf("[measure] FetchBlob 64 MiB: %.3f s, %.0f MB/s\n", seconds,
              blob.size() / seconds / 1e6);
}

TEST(GrpcTransportOptionsTest, BadOptionsAreInvalidArgument) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  EXPECT_EQ(MakeGrpcTransport(key, {.listen = ""}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeGrpcTransport(key, {.keepalive = absl::Milliseconds(10)}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeGrpcTransport(key, {.server_threads = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A port that is taken cannot be listened on.
  ASSERT_OK_AND_ASSIGN(auto first, MakeGrpcTransport(key, {}));
  FakeHandler handler;
  ASSERT_OK(first->Start(&handler));
  ASSERT_OK_AND_ASSIGN(auto second, MakeGrpcTransport(key, {.listen = first->address()}));
  EXPECT_EQ(second->Start(&handler).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace mesh::net
