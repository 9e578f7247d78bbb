#include "mesh/common/base64.h"

#include <gtest/gtest.h>

#include "mesh/common/testing.h"

namespace mesh {
namespace {

// RFC 4648 section 10 test vectors.
TEST(Base64Test, MatchesRfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    ASSERT_OK_AND_ASSIGN(std::string back, Base64Decode(encoded));
    EXPECT_EQ(back, plain);
  }
}

TEST(Base64Test, RoundTripsAllByteValues) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= all.size(); ++n) {
    const std::string bytes = all.substr(all.size() - n);
    ASSERT_OK_AND_ASSIGN(std::string back, Base64Decode(Base64Encode(bytes)));
    EXPECT_EQ(back, bytes);
  }
  EXPECT_EQ(Base64Encode("\xfb\xff"), "+/8=");
}

TEST(Base64Test, RejectsNonCanonicalText) {
  for (std::string_view bad :
       {"Zg=", "Zg", "Z===", "Zm9v!A==", "Zh==", "Zm9=", "=Zg=", "Zg==Zg==", "Zm 9"}) {
    absl::StatusOr<std::string> decoded = Base64Decode(bad);
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace mesh
