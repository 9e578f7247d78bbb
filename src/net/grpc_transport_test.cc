#include "mesh/net/grpc_transport.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "fake_handler.h"
#include "mesh/common/metrics.h"
#include "mesh/common/strings.h"
#include "mesh/common/testing.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/net/tls_identity.h"
#include "mesh_peer.grpc.pb.h"
#include "raw_peer_stub.h"

namespace mesh::net {
namespace {

using testing::FakeHandler;
using ::testing::HasSubstr;
using testing::RawDeliver;
using testing::RawStub;
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

class GrpcTransportTest : public ::testing::Test {
 protected:
  std::unique_ptr<Transport> Make(const crypto::KeyPair& key, Handler* handler,
                                  GrpcTransportOptions options = {}) {
    return testing::StartTransport(key, handler, std::move(options));
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

  // Blob requests B answered over `path` ("grpc", "stream"); 0 when none.
  double BlobRequests(std::string_view path) {
    const std::string text = metrics_b_.RenderText();
    const std::string key = mesh::StrCat("mesh_net_blob_requests_total{path=\"", path, "\"} ");
    const size_t at = text.find(key);
    return at == std::string::npos ? 0 : std::stod(text.substr(at + key.size()));
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
  // Held by the callback, so by the call: freed with it.
  auto held_by_the_call = std::make_shared<int>(0);
  std::weak_ptr<int> call_alive = held_by_the_call;
  a_->Send(B(), "block", 1, absl::Seconds(60),
           [&result, held = std::move(held_by_the_call)](absl::StatusOr<std::string> r) {
             result.status = r.status();
             result.done.Notify();
           });
  ASSERT_TRUE(handler_b_.WaitBlocked());
  a_->Shutdown();  // Returns once the callback has run and the call is freed.
  EXPECT_TRUE(result.done.HasBeenNotified());
  // Freed before Shutdown returned: the peer's channels go on this thread, never on a gRPC
  // completion thread after it (see callback_queue_pin.h).
  EXPECT_TRUE(call_alive.expired());
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
  for (int i = 0; i < 2; ++i) {  // over gRPC, then over the blob stream
    absl::Status s = a_->FetchBlob(B(), "missing", absl::Seconds(10),
                                   [](std::string_view) { return absl::OkStatus(); });
    EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
    EXPECT_THAT(s.message(), HasSubstr("missing"));
  }
  EXPECT_EQ(BlobRequests("grpc"), 1);
  EXPECT_EQ(BlobRequests("stream"), 1);
}

// A peer's first fetch goes over gRPC, whose reply names the blob port; the next ones go over
// the blob stream, with the same bytes and the same caller DID.
TEST_F(GrpcTransportTest, LaterFetchesUseTheBlobStream) {
  const std::string blob = RandomBytes((3 << 20) + 5, 9);
  handler_b_.AddBlob("blob", blob);
  for (int i = 0; i < 4; ++i) {
    std::string got;
    ASSERT_OK(a_->FetchBlob(B(), "blob", absl::Seconds(30), [&](std::string_view chunk) {
      got.append(chunk);
      return absl::OkStatus();
    }));
    EXPECT_TRUE(got == blob) << "fetch " << i;
  }
  EXPECT_EQ(BlobRequests("grpc"), 1);
  EXPECT_EQ(BlobRequests("stream"), 3);
  for (const crypto::DidKey& peer : handler_b_.blob_peers()) EXPECT_TRUE(peer == key_a_.did());
}

TEST_F(GrpcTransportTest, WithoutTheBlobStreamEveryFetchIsGrpc) {
  MetricsRegistry metrics;
  FakeHandler handler;
  crypto::KeyPair key = crypto::KeyPair::Generate();
  std::unique_ptr<Transport> c = Make(key, &handler, {.metrics = &metrics, .blob_stream = false});
  ASSERT_NE(c, nullptr);
  handler.AddBlob("b", "bytes");
  for (int i = 0; i < 3; ++i) {
    std::string got;
    ASSERT_OK(a_->FetchBlob({c->address(), key.did()}, "b", absl::Seconds(10),
                            [&](std::string_view chunk) {
                              got.append(chunk);
                              return absl::OkStatus();
                            }));
    EXPECT_EQ(got, "bytes");
  }
  EXPECT_THAT(metrics.RenderText(), HasSubstr("mesh_net_blob_requests_total{path=\"grpc\"} 3"));
  EXPECT_THAT(metrics.RenderText(),
              ::testing::Not(HasSubstr("mesh_net_blob_requests_total{path=\"stream\"} 1")));
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
  // The channel still works, and so does the blob stream after a second cut transfer.
  ASSERT_OK(SendAndWait(*a_, B(), "after"));
  for (int i = 0; i < 2; ++i) {
    calls = 0;
    s = a_->FetchBlob(B(), "big", absl::Seconds(30), [&](std::string_view) {
      ++calls;
      return absl::DataLossError("disk full");
    });
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_EQ(calls, 1);
  }
  size_t size = 0;
  ASSERT_OK(a_->FetchBlob(B(), "big", absl::Seconds(30), [&](std::string_view chunk) {
    size += chunk.size();
    return absl::OkStatus();
  }));
  EXPECT_EQ(size, 8u << 20);
  EXPECT_GE(BlobRequests("stream"), 2);
}

TEST_F(GrpcTransportTest, ReconnectsToAPeerRestartedOnTheSamePort) {
  ASSERT_OK(SendAndWait(*a_, B(), "first"));
  // A knows B's blob port, and keeps a connection to it.
  handler_b_.AddBlob("b", "old");
  auto fetch = [&](std::string* got) {
    got->clear();
    return a_->FetchBlob(B(), "b", absl::Seconds(10), [&](std::string_view chunk) {
      got->append(chunk);
      return absl::OkStatus();
    });
  };
  std::string got;
  ASSERT_OK(fetch(&got));
  ASSERT_OK(fetch(&got));
  EXPECT_EQ(BlobRequests("stream"), 1);
  const std::string address = b_->address();
  b_->Shutdown();
  EXPECT_EQ(SendAndWait(*a_, B(), "while down").status().code(), absl::StatusCode::kUnavailable);

  FakeHandler handler;
  MetricsRegistry metrics;
  std::unique_ptr<Transport> b2 = Make(key_b_, &handler, {.listen = address, .metrics = &metrics});
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
  // The restarted B has another blob port: A's kept connection and the old port fail, the
  // fetch goes over gRPC, whose reply names the new port, and the next fetch uses it.
  handler.AddBlob("b", "new");
  ASSERT_OK(fetch(&got));
  EXPECT_EQ(got, "new");
  ASSERT_OK(fetch(&got));
  EXPECT_EQ(got, "new");
  EXPECT_EQ(handler.blob_peers().size(), 2u);
  EXPECT_THAT(metrics.RenderText(), HasSubstr("mesh_net_blob_requests_total{path=\"grpc\"} 1"));
  EXPECT_THAT(metrics.RenderText(), HasSubstr("mesh_net_blob_requests_total{path=\"stream\"} 1"));
}

// gRPC's sync server starts a thread when a call leaves fewer than server_threads polling; a
// thread that finished a call used to exit whenever server_threads were polling again, so each
// call started and ended a thread. Calls one at a time must now be served by a few threads.
TEST_F(GrpcTransportTest, SequentialCallsReuseServerThreads) {
  constexpr int kCalls = 200;
  for (int i = 0; i < kCalls; ++i) ASSERT_OK(SendAndWait(*a_, B(), "seq"));
  absl::flat_hash_set<pid_t> threads;
  for (const auto& r : handler_b_.received()) {
    if (r.envelope == "seq") threads.insert(r.thread);
  }
  EXPECT_LE(threads.size(), static_cast<size_t>(GrpcTransportOptions{}.idle_server_threads))
      << "distinct server threads for " << kCalls << " sequential calls";
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
  EXPECT_EQ(MakeGrpcTransport(key, {.server_threads = 4, .idle_server_threads = 3}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      MakeGrpcTransport(key, {.max_server_threads = 8, .idle_server_threads = 9}).status().code(),
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
