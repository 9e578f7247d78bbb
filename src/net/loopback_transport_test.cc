#include "mesh/net/loopback_transport.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>

#include "fake_handler.h"
#include "mesh/common/testing.h"
#include "mesh/crypto/key_pair.h"

namespace mesh::net {
namespace {

using testing::FakeHandler;
using ::testing::HasSubstr;
using testing::SendAndWait;

class LoopbackTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(a_.Start(&handler_a_));
    ASSERT_OK(b_.Start(&handler_b_));
  }
  Endpoint B() const { return {"b", did_b_}; }

  LoopbackNetwork network_;
  crypto::DidKey did_a_ = crypto::KeyPair::Generate().did();
  crypto::DidKey did_b_ = crypto::KeyPair::Generate().did();
  FakeHandler handler_a_;
  FakeHandler handler_b_;
  LoopbackTransport a_{&network_, did_a_, "a"};
  LoopbackTransport b_{&network_, did_b_, "b"};
};

TEST_F(LoopbackTransportTest, SendRoundTripIsAsynchronousAndCarriesPeerDid) {
  EXPECT_EQ(b_.address(), "b");
  const std::thread::id caller = std::this_thread::get_id();
  absl::Notification done;
  std::thread::id callback_thread;
  absl::StatusOr<std::string> reply;
  a_.Send(B(), "hello", 42, absl::Seconds(1), [&](absl::StatusOr<std::string> r) {
    callback_thread = std::this_thread::get_id();
    reply = std::move(r);
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  ASSERT_OK(reply);
  EXPECT_EQ(*reply, "reply:hello");
  EXPECT_NE(callback_thread, caller);
  const auto got = handler_b_.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].peer == did_a_);
  EXPECT_EQ(got[0].ttl, kMaxTtl);
  ASSERT_OK_AND_ASSIGN(std::string back, SendAndWait(b_, {"a", std::nullopt}, "back", -1));
  EXPECT_EQ(back, "reply:back");
  EXPECT_EQ(handler_a_.received()[0].ttl, 0);
}

TEST_F(LoopbackTransportTest, DeadPeerIsUnavailableUntilRevived) {
  network_.SetAlive("b", false);
  absl::StatusOr<std::string> r = SendAndWait(a_, B(), "hello");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("b"));
  EXPECT_EQ(
      a_.FetchBlob(B(), "x", absl::Seconds(1), [](std::string_view) { return absl::OkStatus(); })
          .code(),
      absl::StatusCode::kUnavailable);
  EXPECT_TRUE(handler_b_.received().empty());
  network_.SetAlive("b", true);
  ASSERT_OK(SendAndWait(a_, B(), "hello"));
  EXPECT_EQ(SendAndWait(a_, {"nowhere", std::nullopt}, "x").status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(LoopbackTransportTest, DidMismatchIsPermissionDenied) {
  const crypto::DidKey other = crypto::KeyPair::Generate().did();
  absl::StatusOr<std::string> r = SendAndWait(a_, {"b", other}, "hello");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr(did_b_.ToString()));
  EXPECT_THAT(r.status().message(), HasSubstr(other.ToString()));
  EXPECT_TRUE(handler_b_.received().empty());
}

TEST_F(LoopbackTransportTest, OversizedEnvelopeIsResourceExhausted) {
  EXPECT_EQ(SendAndWait(a_, B(), std::string(kMaxMessageBytes + 1, 'x')).status().code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_OK(SendAndWait(a_, B(), std::string(kMaxMessageBytes, 'x')));
  EXPECT_EQ(handler_b_.received().size(), 1u);
}

TEST_F(LoopbackTransportTest, HandlerErrorPropagates) {
  handler_b_.set_error(absl::ResourceExhaustedError("queue full"));
  absl::StatusOr<std::string> r = SendAndWait(a_, B(), "fail");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(), HasSubstr("queue full"));
}

TEST_F(LoopbackTransportTest, FetchBlobStreamsChunksInOrder) {
  std::string blob(5 << 20, '\0');
  for (size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>((i * 131) >> 7);
  handler_b_.AddBlob("blob", blob);
  std::string got;
  int chunks = 0;
  ASSERT_OK(a_.FetchBlob(B(), "blob", absl::Seconds(30), [&](std::string_view chunk) {
    EXPECT_LE(chunk.size(), kBlobChunkBytes);
    got.append(chunk);
    ++chunks;
    return absl::OkStatus();
  }));
  EXPECT_TRUE(got == blob);
  EXPECT_EQ(chunks, static_cast<int>((5 << 20) / kBlobChunkBytes));
  EXPECT_TRUE(handler_b_.blob_peers().at(0) == did_a_);

  EXPECT_EQ(a_.FetchBlob(B(), "missing", absl::Seconds(1),
                         [](std::string_view) { return absl::OkStatus(); })
                .code(),
            absl::StatusCode::kNotFound);
  int calls = 0;
  absl::Status s = a_.FetchBlob(B(), "blob", absl::Seconds(30), [&](std::string_view) {
    ++calls;
    return absl::AbortedError("stop");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(calls, 1);
}

TEST_F(LoopbackTransportTest, DuplicateAddressAndRestart) {
  LoopbackTransport dup(&network_, did_a_, "b");
  FakeHandler handler;
  EXPECT_EQ(dup.Start(&handler).code(), absl::StatusCode::kAlreadyExists);
  b_.Shutdown();
  EXPECT_EQ(SendAndWait(a_, B(), "x").status().code(), absl::StatusCode::kUnavailable);
  LoopbackTransport b2(&network_, did_b_, "b");
  ASSERT_OK(b2.Start(&handler));
  ASSERT_OK(SendAndWait(a_, B(), "x"));
  EXPECT_EQ(b_.Start(&handler).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(LoopbackTransportTest, ShutdownWaitsForDeliveriesAndCancelsLaterSends) {
  absl::Notification done;
  absl::StatusOr<std::string> reply;
  a_.Send(B(), "block", 1, absl::Seconds(1), [&](absl::StatusOr<std::string> r) {
    reply = std::move(r);
    done.Notify();
  });
  ASSERT_TRUE(handler_b_.WaitBlocked());
  std::thread shutdown([&] { a_.Shutdown(); });
  handler_b_.Release();
  shutdown.join();
  EXPECT_TRUE(done.HasBeenNotified());  // Shutdown returned after the delivery finished.
  EXPECT_OK(reply);
  EXPECT_EQ(SendAndWait(a_, B(), "late").status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(
      a_.FetchBlob(B(), "x", absl::Seconds(1), [](std::string_view) { return absl::OkStatus(); })
          .code(),
      absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace mesh::net
