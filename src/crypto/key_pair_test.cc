#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mesh/common/file_util.h"
#include "mesh/common/testing.h"
#include "mesh/crypto/key_pair.h"

namespace mesh::crypto {
namespace {

class KeyPairFileTest : public ::testing::Test {
 protected:
  ScopedTempDir tmp_;
  const std::filesystem::path dir_ = tmp_.path();
};

TEST_F(KeyPairFileTest, SaveCreates0600AndLoadRestoresIdentity) {
  KeyPair key = KeyPair::Generate();
  const auto path = dir_ / "id.key";
  ASSERT_OK(key.Save(path));
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_OK_AND_ASSIGN(KeyPair loaded, KeyPair::Load(path));
  EXPECT_TRUE(loaded.did() == key.did());
  EXPECT_OK(key.did().Verify("m", loaded.Sign("m")));
}

TEST_F(KeyPairFileTest, SaveRefusesToReplaceExistingKey) {
  const auto path = dir_ / "id.key";
  KeyPair first = KeyPair::Generate();
  ASSERT_OK(first.Save(path));
  auto s = KeyPair::Generate().Save(path);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  ASSERT_OK_AND_ASSIGN(KeyPair loaded, KeyPair::Load(path));
  EXPECT_TRUE(loaded.did() == first.did());
}

TEST_F(KeyPairFileTest, LoadRefusesGroupOrWorldReadableFile) {
  const auto path = dir_ / "id.key";
  ASSERT_OK(KeyPair::Generate().Save(path));
  for (mode_t mode : {0640, 0604, 0660}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    auto r = KeyPair::Load(path);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_NE(r.status().message().find("chmod 600"), std::string::npos) << r.status();
  }
}

TEST_F(KeyPairFileTest, LoadRejectsCorruptFiles) {
  const auto path = dir_ / "bad.key";
  ASSERT_OK(WriteFileAtomically(path, "seed = 1234\n", 0600, false));
  EXPECT_EQ(KeyPair::Load(path).status().code(), absl::StatusCode::kDataLoss);

  const auto other = dir_ / "mismatch.key";
  KeyPair a = KeyPair::Generate();
  ASSERT_OK(a.Save(other));
  ASSERT_OK_AND_ASSIGN(std::string content, ReadFileToString(other, 4096));
  // Swap in a DID that does not belong to the seed.
  const std::string did_a = a.did().ToString();
  content.replace(content.find(did_a), did_a.size(), KeyPair::Generate().did().ToString());
  ASSERT_OK(WriteFileAtomically(other, content, 0600, true));
  auto r = KeyPair::Load(other);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(KeyPair::Load(dir_ / "missing.key").status().code(), absl::StatusCode::kNotFound);
}

TEST(KeyPairTest, FromSeedRejectsWrongLengthAndIsDeterministic) {
  EXPECT_EQ(KeyPair::FromSeed("short").status().code(), absl::StatusCode::kInvalidArgument);
  const std::string seed(32, '\x07');
  ASSERT_OK_AND_ASSIGN(KeyPair a, KeyPair::FromSeed(seed));
  ASSERT_OK_AND_ASSIGN(KeyPair b, KeyPair::FromSeed(seed));
  EXPECT_TRUE(a.did() == b.did());
  EXPECT_FALSE(a.did() == KeyPair::Generate().did());
}

TEST(KeyPairTest, SeedForTlsRebuildsTheSameIdentity) {
  KeyPair key = KeyPair::Generate();
  const std::string seed = key.SeedForTls();
  ASSERT_EQ(seed.size(), kSeedSize);
  ASSERT_OK_AND_ASSIGN(KeyPair again, KeyPair::FromSeed(seed));
  EXPECT_TRUE(again.did() == key.did());
}

}  // namespace
}  // namespace mesh::crypto
