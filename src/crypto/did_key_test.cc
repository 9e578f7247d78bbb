#include <gtest/gtest.h>

#include <cstring>

#include "mesh/common/base58.h"
#include "mesh/common/hex.h"
#include "mesh/common/testing.h"
#include "mesh/crypto/did_key.h"
#include "mesh/crypto/key_pair.h"

namespace mesh::crypto {
namespace {

PublicKey KeyFromBytes(const std::string& bytes) {
  PublicKey k;
  EXPECT_EQ(bytes.size(), k.size());
  std::memcpy(k.data(), bytes.data(), k.size());
  return k;
}

// A published Ed25519 did:key with its publicKeyBase58 (DID document test data).
TEST(DidKeyTest, MatchesPublishedExample) {
  ASSERT_OK_AND_ASSIGN(std::string raw,
                       Base58Decode("8HH5gYEeNc3z7PYXmd54d4x6qAfCNrqQqEB3nS7Zfu7K"));
  const DidKey did = DidKey::FromPublicKey(KeyFromBytes(raw));
  EXPECT_EQ(did.ToString(), "did:key:z6MkmjY8GnV5i9YTDtPETC2uUAW6ejw3nk5mXF5yci5ab7th");
  ASSERT_OK_AND_ASSIGN(DidKey parsed,
                       DidKey::Parse("did:key:z6MkmjY8GnV5i9YTDtPETC2uUAW6ejw3nk5mXF5yci5ab7th"));
  EXPECT_TRUE(parsed == did);
}

// RFC 8032 section 7.1 test 1: the seed gives this public key; its did:key round-trips.
TEST(DidKeyTest, Rfc8032KeyRoundTrips) {
  ASSERT_OK_AND_ASSIGN(
      std::string seed,
      HexDecode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  ASSERT_OK_AND_ASSIGN(KeyPair key, KeyPair::FromSeed(seed));
  EXPECT_EQ(
      HexEncode(std::string_view(reinterpret_cast<const char*>(key.did().public_key().data()), 32)),
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  const std::string text = key.did().ToString();
  EXPECT_EQ(text.substr(0, 12), "did:key:z6Mk");
  ASSERT_OK_AND_ASSIGN(DidKey back, DidKey::Parse(text));
  EXPECT_TRUE(back == key.did());
  // RFC 8032 test 1 signature over the empty message.
  EXPECT_EQ(HexEncode(key.Sign("")),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
}

TEST(DidKeyTest, ParseRejectsMalformedIdentifiers) {
  const std::pair<std::string, std::string> cases[] = {
      {"did:web:example.com", "not a did:key"},
      {"did:key:", "base58btc"},
      {"did:key:f6MkmjY8", "base58btc"},
      {"did:key:z0OIl", "invalid base58btc"},
      // secp256k1-pub multicodec (0xe7) is a valid did:key but not one Mesh accepts.
      {"did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme", "only ed25519-pub"},
      // Right codec, key cut short.
      {"did:key:z" + Base58Encode("\xed\x01" + std::string(31, 'k')), "expected 32"},
      // Right codec, a byte too many.
      {"did:key:z" + Base58Encode("\xed\x01" + std::string(33, 'k')), "expected 32"},
  };
  for (const auto& [text, fragment] : cases) {
    auto r = DidKey::Parse(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_NE(r.status().message().find(fragment), std::string::npos)
        << text << " -> " << r.status();
  }
}

TEST(DidKeyTest, VerifyRejectsWrongMessageKeyAndLength) {
  KeyPair a = KeyPair::Generate();
  KeyPair b = KeyPair::Generate();
  const std::string sig = a.Sign("hello");
  EXPECT_OK(a.did().Verify("hello", sig));
  EXPECT_EQ(a.did().Verify("hellp", sig).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(b.did().Verify("hello", sig).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(a.did().Verify("hello", sig.substr(0, 63)).code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace mesh::crypto
