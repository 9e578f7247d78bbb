#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "mesh/common/hex.h"
#include "mesh/common/testing.h"
#include "mesh/crypto/sha256.h"

namespace mesh::crypto {
namespace {

std::string HexOf(const Digest& d) { return HexEncode(DigestToString(d)); }

// FIPS 180-2 examples.
TEST(Sha256Test, MatchesFipsVectors) {
  EXPECT_EQ(HexOf(Sha256Of("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexOf(Sha256Of("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexOf(Sha256Of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, StreamingEqualsOneShotAndResets) {
  const std::string data(100000, 'a');
  Sha256 h;
  for (size_t i = 0; i < data.size(); i += 777) h.Update(std::string_view(data).substr(i, 777));
  EXPECT_EQ(h.Finish(), Sha256Of(data));
  h.Update("abc");
  EXPECT_EQ(h.Finish(), Sha256Of("abc"));
}

TEST(Sha256Test, HashesFileDescriptor) {
  char path[] = "/tmp/mesh_sha_XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string data(3 << 20, 'x');
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ASSERT_EQ(::lseek(fd, 0, SEEK_SET), 0);
  ASSERT_OK_AND_ASSIGN(Digest d, Sha256OfFd(fd));
  EXPECT_EQ(d, Sha256Of(data));
  ::close(fd);
  ::unlink(path);
}

}  // namespace
}  // namespace mesh::crypto
