#include "mesh/crypto/sealed_box.h"

#include "gtest/gtest.h"
#include "mesh/common/testing.h"
#include "mesh/crypto/key_pair.h"

namespace mesh::crypto {
namespace {

TEST(SealedBoxTest, OnlyTheRecipientOpensIt) {
  const KeyPair owner = KeyPair::Generate();
  const KeyPair other = KeyPair::Generate();
  ASSERT_OK_AND_ASSIGN(std::string sealed, SealTo(owner.did(), "a file key"));
  EXPECT_EQ(sealed.size(), 10 + kSealOverhead);
  ASSERT_OK_AND_ASSIGN(std::string opened, owner.OpenSealed(sealed));
  EXPECT_EQ(opened, "a file key");
  EXPECT_TRUE(absl::IsUnauthenticated(other.OpenSealed(sealed).status()));
  // Each seal is fresh (an ephemeral key): two seals of one message differ.
  EXPECT_NE(SealTo(owner.did(), "a file key").value(), sealed);
}

TEST(SealedBoxTest, DamagedAndShortBoxesAreRefused) {
  const KeyPair owner = KeyPair::Generate();
  ASSERT_OK_AND_ASSIGN(std::string sealed, SealTo(owner.did(), "k"));
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] ^= 0x01;
    EXPECT_FALSE(owner.OpenSealed(bad).ok()) << i;
  }
  EXPECT_TRUE(absl::IsInvalidArgument(owner.OpenSealed("short").status()));
  EXPECT_TRUE(
      absl::IsUnauthenticated(owner.OpenSealed(sealed.substr(0, sealed.size() - 1)).status()));
}

}  // namespace
}  // namespace mesh::crypto
