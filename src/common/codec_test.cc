#include <gtest/gtest.h>

#include "mesh/common/base32.h"
#include "mesh/common/base58.h"
#include "mesh/common/hex.h"
#include "mesh/common/testing.h"
#include "mesh/common/varint.h"

namespace mesh {
namespace {

TEST(HexTest, RoundTripsAllByteValues) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  const std::string hex = HexEncode(all);
  EXPECT_EQ(hex.substr(0, 8), "00010203");
  EXPECT_EQ(hex.substr(hex.size() - 4), "feff");
  ASSERT_OK_AND_ASSIGN(std::string back, HexDecode(hex));
  EXPECT_EQ(back, all);
}

TEST(HexTest, AcceptsUpperCaseAndRejectsBadInput) {
  ASSERT_OK_AND_ASSIGN(std::string b, HexDecode("DEADbeef"));
  EXPECT_EQ(b, "\xde\xad\xbe\xef");
  EXPECT_EQ(HexDecode("abc").status().code(), absl::StatusCode::kInvalidArgument);
  auto bad = HexDecode("zz");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("offset 0"), std::string::npos);
}

// RFC 4648 section 10 test vectors, lower-cased with padding removed (multibase 'b').
TEST(Base32Test, MatchesRfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "my"},
                                                         {"fo", "mzxq"},
                                                         {"foo", "mzxw6"},
                                                         {"foob", "mzxw6yq"},
                                                         {"fooba", "mzxw6ytb"},
                                                         {"foobar", "mzxw6ytboi"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base32Encode(plain), encoded);
    ASSERT_OK_AND_ASSIGN(std::string back, Base32Decode(encoded));
    EXPECT_EQ(back, plain);
  }
}

// multibase spec test vector "yes mani !" in base32 is "bpfsxgidnmfxgsibb" (prefix 'b').
TEST(Base32Test, MatchesMultibaseVector) {
  EXPECT_EQ(Base32Encode("yes mani !"), "pfsxgidnmfxgsibb");
}

TEST(Base32Test, RejectsUpperCasePaddingAndBadLength) {
  EXPECT_FALSE(Base32Decode("MZXW6").ok());
  EXPECT_FALSE(Base32Decode("mzxw6===").ok());
  EXPECT_FALSE(Base32Decode("m").ok());    // length 1 mod 8 is impossible
  EXPECT_FALSE(Base32Decode("mzx").ok());  // length 3 mod 8 is impossible
  EXPECT_FALSE(Base32Decode("mz").ok());   // 'z' leaves non-zero trailing bits
  EXPECT_FALSE(Base32Decode("m1").ok());   // '1' is outside the alphabet
}

// Vectors from the IETF base58 draft (draft-msporny-base58).
TEST(Base58Test, MatchesDraftVectors) {
  EXPECT_EQ(Base58Encode("Hello World!"), "2NEpo7TZRRrLZSi2U");
  EXPECT_EQ(Base58Encode("The quick brown fox jumps over the lazy dog."),
            "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z");
  EXPECT_EQ(Base58Encode(std::string("\x00\x00\x28\x7f\xb4\xcd", 6)), "11233QC4");
  ASSERT_OK_AND_ASSIGN(std::string back, Base58Decode("11233QC4"));
  EXPECT_EQ(back, std::string("\x00\x00\x28\x7f\xb4\xcd", 6));
  EXPECT_EQ(Base58Encode(""), "");
}

TEST(Base58Test, RejectsCharactersOutsideAlphabet) {
  for (const char* bad : {"0abc", "Oabc", "Iabc", "labc", "ab+c"}) {
    EXPECT_EQ(Base58Decode(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(Base58Decode(std::string(5000, '2')).ok());
}

// Examples from the multiformats unsigned-varint spec.
TEST(VarintTest, MatchesSpecExamples) {
  const std::pair<uint64_t, std::string> vectors[] = {{1, "\x01"},       {127, "\x7f"},
                                                      {128, "\x80\x01"}, {255, "\xff\x01"},
                                                      {300, "\xac\x02"}, {16384, "\x80\x80\x01"}};
  for (const auto& [value, bytes] : vectors) {
    std::string out;
    AppendVarint(value, out);
    EXPECT_EQ(out, bytes) << value;
    std::string_view in = out;
    ASSERT_OK_AND_ASSIGN(uint64_t back, ReadVarint(in));
    EXPECT_EQ(back, value);
    EXPECT_TRUE(in.empty());
  }
}

TEST(VarintTest, RejectsTruncatedOverlongAndNonMinimal) {
  std::string_view truncated("\x80\x80", 2);
  EXPECT_NE(ReadVarint(truncated).status().message().find("truncated"), std::string::npos);
  std::string_view overlong("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);
  EXPECT_FALSE(ReadVarint(overlong).ok());
  std::string_view non_minimal("\x81\x00", 2);
  EXPECT_NE(ReadVarint(non_minimal).status().message().find("minimal"), std::string::npos);
  std::string_view empty;
  EXPECT_FALSE(ReadVarint(empty).ok());
}

}  // namespace
}  // namespace mesh
