#include <gtest/gtest.h>

#include "mesh/common/testing.h"
#include "mesh/crypto/envelope.h"

namespace mesh::crypto {
namespace {

TEST(EnvelopeTest, SealSerializeOpenRoundTrips) {
  KeyPair key = KeyPair::Generate();
  const Envelope sealed = Envelope::Seal(key, "mesh.test/v1", "payload bytes\0with nul");
  const std::string wire = sealed.Serialize();
  ASSERT_OK_AND_ASSIGN(Envelope opened, Envelope::Open(wire, "mesh.test/v1", key.did()));
  EXPECT_EQ(opened.payload(), sealed.payload());
  EXPECT_EQ(opened.payload_type(), "mesh.test/v1");
  EXPECT_TRUE(opened.signer() == key.did());
  EXPECT_EQ(opened.Serialize(), wire);
}

TEST(EnvelopeTest, PreAuthEncodingFollowsDsse) {
  EXPECT_EQ(PreAuthEncoding("http://example.com/HelloWorld", "hello world"),
            "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
}

TEST(EnvelopeTest, EveryChangedByteIsRejected) {
  KeyPair key = KeyPair::Generate();
  const std::string wire = Envelope::Seal(key, "t", "some payload").Serialize();
  for (size_t i = 0; i < wire.size(); ++i) {
    std::string tampered = wire;
    tampered[i] ^= 0x01;
    auto r = Envelope::Open(tampered, "t");
    EXPECT_FALSE(r.ok()) << "flipping byte " << i << " went unnoticed";
  }
}

TEST(EnvelopeTest, EveryTruncationIsRejectedWithClearError) {
  KeyPair key = KeyPair::Generate();
  const std::string wire = Envelope::Seal(key, "t", "abc").Serialize();
  for (size_t len = 0; len < wire.size(); ++len) {
    auto r = Envelope::Open(wire.substr(0, len), "t");
    ASSERT_FALSE(r.ok()) << len;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << len;
  }
  auto r = Envelope::Open(wire.substr(0, wire.size() - 10), "t");
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status();
  EXPECT_FALSE(Envelope::Open(wire + "x", "t").ok());
}

TEST(EnvelopeTest, WrongSignerTypeAndOversizeAreRefused) {
  KeyPair key = KeyPair::Generate();
  KeyPair other = KeyPair::Generate();
  const std::string wire = Envelope::Seal(key, "bid", "x").Serialize();
  auto wrong_signer = Envelope::Open(wire, "bid", other.did());
  EXPECT_EQ(wrong_signer.status().code(), absl::StatusCode::kPermissionDenied);
  auto wrong_type = Envelope::Open(wire, "receipt");
  EXPECT_EQ(wrong_type.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(wrong_type.status().message().find("'bid'"), std::string::npos);
  const std::string big = Envelope::Seal(key, "bid", std::string(1000, 'a')).Serialize();
  auto oversize = Envelope::Open(big, "bid", {}, 500);
  EXPECT_EQ(oversize.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(oversize.status().message().find("limit"), std::string::npos);
}

TEST(EnvelopeTest, SignatureFromAnotherKeyUnderClaimedDidFails) {
  // An attacker signs with their key but claims someone else's DID.
  KeyPair victim = KeyPair::Generate();
  KeyPair attacker = KeyPair::Generate();
  const std::string forged_wire = Envelope::Seal(attacker, "t", "p").Serialize();
  std::string wire = forged_wire;
  const std::string a = attacker.did().ToString(), v = victim.did().ToString();
  ASSERT_EQ(a.size(), v.size());
  wire.replace(wire.find(a), a.size(), v);
  auto r = Envelope::Open(wire, "t");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace mesh::crypto
