#include "mesh/exec/frame.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "mesh/common/check.h"
#include "mesh/common/file_util.h"
#include "mesh/common/testing.h"

namespace mesh::exec {
namespace {

struct SocketPair {
  ScopedFd a, b;
  SocketPair() {
    int sv[2];
    MESH_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    a.Reset(sv[0]);
    b.Reset(sv[1]);
  }
};

std::string Sealed(std::string_view body) {
  std::string frame = NewFrame();
  frame.append(body);
  MESH_CHECK(SealFrame(frame).ok());
  return frame;
}

TEST(FrameTest, RoundTripsBodies) {
  SocketPair p;
  ASSERT_OK(WriteFrame(p.a.get(), Sealed("hello")));
  ASSERT_OK(WriteFrame(p.a.get(), Sealed("")));
  ASSERT_OK_AND_ASSIGN(std::string first, ReadFrame(p.b.get(), 100));
  ASSERT_OK_AND_ASSIGN(std::string second, ReadFrame(p.b.get(), 100));
  EXPECT_EQ(first, "hello");
  EXPECT_EQ(second, "");
}

TEST(FrameTest, LargeFrameCrossesTheSocketBuffer) {
  SocketPair p;
  const std::string body(8 << 20, 'x');
  std::thread writer([&] { EXPECT_OK(WriteFrame(p.a.get(), Sealed(body))); });
  absl::StatusOr<std::string> got = ReadFrame(p.b.get(), body.size());
  writer.join();
  ASSERT_OK(got);
  EXPECT_EQ(*got, body);
}

TEST(FrameTest, DescriptorsTravelWithTheirFrame) {
  SocketPair p, carried;
  ASSERT_OK(WriteFrame(p.a.get(), Sealed("plain")));
  ASSERT_OK(WriteFrameWithFds(p.a.get(), Sealed("with fd"), {carried.a.get()}));
  std::vector<ScopedFd> fds;
  ASSERT_OK_AND_ASSIGN(std::string first, ReadFrameWithFds(p.b.get(), 100, 1, &fds));
  EXPECT_EQ(first, "plain");
  EXPECT_TRUE(fds.empty());
  ASSERT_OK_AND_ASSIGN(std::string second, ReadFrameWithFds(p.b.get(), 100, 1, &fds));
  EXPECT_EQ(second, "with fd");
  ASSERT_EQ(fds.size(), 1u);
  // The received descriptor is the same socket: what goes in one end comes out of it.
  ASSERT_EQ(::write(carried.b.get(), "z", 1), 1);
  char c = 0;
  EXPECT_EQ(::read(fds[0].get(), &c, 1), 1);
  EXPECT_EQ(c, 'z');
}

TEST(FrameTest, TooManyDescriptorsAreRefusedAndTheStreamStaysInStep) {
  SocketPair p, carried;
  ASSERT_OK(WriteFrameWithFds(p.a.get(), Sealed("two"), {carried.a.get(), carried.b.get()}));
  ASSERT_OK(WriteFrame(p.a.get(), Sealed("next")));
  std::vector<ScopedFd> fds;
  absl::StatusOr<std::string> refused = ReadFrameWithFds(p.b.get(), 100, 1, &fds);
  EXPECT_TRUE(absl::IsResourceExhausted(refused.status())) << refused.status();
  EXPECT_TRUE(fds.empty());
  ASSERT_OK_AND_ASSIGN(std::string next, ReadFrameWithFds(p.b.get(), 100, 1, &fds));
  EXPECT_EQ(next, "next");
}

TEST(FrameTest, CleanEndOfStreamIsOutOfRange) {
  SocketPair p;
  p.a.Reset();
  EXPECT_TRUE(absl::IsOutOfRange(ReadFrame(p.b.get(), 100).status()));
}

TEST(FrameTest, TruncatedHeaderIsDataLoss) {
  SocketPair p;
  ASSERT_EQ(::write(p.a.get(), "\x05\x00", 2), 2);
  p.a.Reset();
  absl::Status s = ReadFrame(p.b.get(), 100).status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find("2 of 4 header bytes"), absl::string_view::npos) << s;
}

TEST(FrameTest, TruncatedBodyIsDataLoss) {
  SocketPair p;
  const std::string frame = Sealed("0123456789");
  ASSERT_EQ(::write(p.a.get(), frame.data(), 7), 7);
  p.a.Reset();
  absl::Status s = ReadFrame(p.b.get(), 100).status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find("3 of 10 body bytes"), absl::string_view::npos) << s;
}

TEST(FrameTest, OversizedFrameIsRefusedBeforeReading) {
  SocketPair p;
  ASSERT_EQ(::write(p.a.get(), "\xff\xff\xff\x7f", 4), 4);  // claims 2 GiB
  absl::Status s = ReadFrame(p.b.get(), 1 << 20).status();
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_NE(s.message().find("2147483647 bytes exceeds the limit of 1048576"),
            absl::string_view::npos)
      << s;
}

TEST(FrameTest, DeadlinePassesWhenThePeerIsSilent) {
  SocketPair p;
  const Deadline deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
  EXPECT_TRUE(absl::IsDeadlineExceeded(ReadFrame(p.b.get(), 100, deadline).status()));
}

TEST(FrameTest, WritingToAClosedPeerIsUnavailableNotSigpipe) {
  SocketPair p;
  p.b.Reset();
  absl::Status s = WriteFrame(p.a.get(), Sealed("x"));
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
}

TEST(FrameTest, SealRefusesAFrameWithoutHeader) {
  std::string frame = "ab";
  EXPECT_FALSE(SealFrame(frame).ok());
}

}  // namespace
}  // namespace mesh::exec
