#include "mesh/job/market.h"

#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <set>

#include "market_test_util.h"
#include "mesh/common/base64.h"
#include "mesh/common/strings.h"
#include "mesh/common/testing.h"
#include "mesh/job/job_spec.h"

namespace mesh::job {
namespace {

using nlohmann::json;

using namespace ::mesh::job::market_fixtures;  // NOLINT: the shared message fixtures

TEST(MarketTest, EveryMessageRoundTripsThroughSealAndOpen) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  crypto::KeyPair other = crypto::KeyPair::Generate();
  std::set<std::string_view> types;
  for (const Message& message : SampleMessages(key, other)) {
    crypto::Envelope sealed = SealMessage(key, message, kNow, kNonce);
    EXPECT_EQ(sealed.payload_type(), PayloadType(message));
    EXPECT_EQ(PayloadType(message),
              mesh::StrCat("application/vnd.mesh.", MessageName(message), ".v1+json"));
    types.insert(PayloadType(message));
    ASSERT_OK_AND_ASSIGN(OpenedMessage opened, OpenMessage(sealed.Serialize(), kMax));
    EXPECT_EQ(opened.message.index(), message.index());
    const json back = ToJson(opened.message);
    EXPECT_EQ(back.dump(), opened.envelope.payload()) << "payload is the canonical JSON";
    EXPECT_EQ(back["sent_at_ms"], kNow);
    EXPECT_EQ(back["nonce"], kNonce);
    json expected = ToJson(message);
    expected["sent_at_ms"] = kNow;
    expected["nonce"] = kNonce;
    EXPECT_EQ(back, expected) << MessageName(message);
  }
  EXPECT_EQ(types.size(), std::variant_size_v<Message>);
}

TEST(MarketTest, BinarySpecEnvelopeTravelsAsBase64) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  crypto::KeyPair other = crypto::KeyPair::Generate();
  const Message assignment = SampleMessages(key, other)[3];
  const std::string bytes = std::get<Assignment>(assignment).spec_envelope;
  EXPECT_EQ(ToJson(assignment)["spec_envelope"], Base64Encode(bytes));
  ASSERT_OK_AND_ASSIGN(OpenedMessage opened,
                       OpenMessage(SealMessage(key, assignment, kNow, kNonce).Serialize(), kMax));
  EXPECT_EQ(std::get<Assignment>(opened.message).spec_envelope, bytes);
}

TEST(MarketTest, SealKeepsAHeaderThatIsAlreadySet) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  Bid bid = std::get<Bid>(SampleMessages(key, key)[1]);
  bid.header = {kNow - 5, "ffeeddccbbaa99887766554433221100"};
  crypto::Envelope sealed = SealMessage(key, bid, kNow, kNonce);
  const json j = json::parse(sealed.payload());
  EXPECT_EQ(j["sent_at_ms"], kNow - 5);
  EXPECT_EQ(j["nonce"], "ffeeddccbbaa99887766554433221100");
}

TEST(MarketTest, TamperedPayloadIsRefused) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  std::string bytes = SealMessage(key, SampleMessages(key, key)[1], kNow, kNonce).Serialize();
  const size_t at = bytes.find("\"price\":51");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 8] = '9';
  EXPECT_FALSE(OpenMessage(bytes, kMax).ok());
  EXPECT_FALSE(OpenMessage(bytes.substr(0, bytes.size() - 1), kMax).ok());
  EXPECT_FALSE(OpenMessage("", kMax).ok());
  EXPECT_FALSE(OpenMessage("MSE\x01", kMax).ok());
}

TEST(MarketTest, SignerMustBeTheAuthor) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  crypto::KeyPair other = crypto::KeyPair::Generate();
  // Every message authored by `other` but signed by `key`.
  for (const Message& message : SampleMessages(other, key)) {
    absl::StatusOr<OpenedMessage> opened =
        OpenMessage(SealMessage(key, message, kNow, kNonce).Serialize(), kMax);
    ASSERT_EQ(opened.status().code(), absl::StatusCode::kPermissionDenied) << MessageName(message);
    const std::string text(opened.status().message());
    EXPECT_NE(text.find(Did(key)), std::string::npos) << text;
    EXPECT_NE(text.find(Did(other)), std::string::npos) << text;
  }
  Bid bid = std::get<Bid>(SampleMessages(key, key)[1]);
  bid.executor = Did(other);
  absl::StatusOr<OpenedMessage> opened =
      OpenMessage(SealMessage(key, bid, kNow, kNonce).Serialize(), kMax);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(opened.status().message().find("bid names executor"), std::string::npos);
}

TEST(MarketTest, OversizedMessageIsRefused) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  const std::string bytes = SealMessage(key, SampleMessages(key, key)[0], kNow, kNonce).Serialize();
  EXPECT_OK(OpenMessage(bytes, bytes.size()));
  absl::StatusOr<OpenedMessage> opened = OpenMessage(bytes, bytes.size() - 1);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(opened.status().message().find("limit"), std::string::npos) << opened.status();
}

TEST(MarketTest, UnknownTypeAndBadJsonAreRefused) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  absl::StatusOr<OpenedMessage> unknown = OpenMessage(
      crypto::Envelope::Seal(key, "application/vnd.mesh.rumour.v1+json", "{}").Serialize(), kMax);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("unknown market message type"), std::string::npos);
  // A job spec is a signed envelope too, but not a market message.
  EXPECT_FALSE(
      OpenMessage(crypto::Envelope::Seal(key, kJobSpecPayloadType, "{}").Serialize(), kMax).ok());
  absl::StatusOr<OpenedMessage> bad_json = OpenMessage(
      crypto::Envelope::Seal(key, "application/vnd.mesh.bid.v1+json", "{\"price\":").Serialize(),
      kMax);
  EXPECT_EQ(bad_json.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(MessageFromJson("text/plain", json::object()).ok());
}

TEST(MarketTest, GossipOutOfBoundsIsRefused) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  json good = ToJson(SampleMessages(key, key)[11]);
  good["sent_at_ms"] = kNow;
  good["nonce"] = kNonce;
  ASSERT_EQ(good.value("kind", ""), "shuffle");
  EXPECT_OK(MessageFromJson("application/vnd.mesh.gossip.v1+json", good));
  auto refusal = [&](const char* key_name, json value) {
    json j = good;
    j[key_name] = std::move(value);
    return MessageFromJson("application/vnd.mesh.gossip.v1+json", j).status();
  };
  // A walk that would never end, a kind nobody speaks, a sample that floods a passive view.
  absl::Status ttl = refusal("ttl", kMaxGossipTtl + 1);
  EXPECT_NE(ttl.message().find("/gossip/ttl"), std::string::npos) << ttl;
  absl::Status kind = refusal("kind", "promote_me");
  EXPECT_NE(kind.message().find("unknown gossip kind"), std::string::npos) << kind;
  json many = json::array();
  for (int i = 0; i < 65; ++i) many.push_back(good["sample"][0]);
  absl::Status sample = refusal("sample", many);
  EXPECT_NE(sample.message().find("/gossip/sample: has more than 64"), std::string::npos) << sample;
  EXPECT_FALSE(refusal("subject", json{{"did", "not-a-did"}}).ok());
}

TEST(MarketTest, StoredFileMessagesAreBounded) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  json good = ToJson(SampleMessages(key, key)[12]);
  good["sent_at_ms"] = kNow;
  good["nonce"] = kNonce;
  constexpr char kType[] = "application/vnd.mesh.store_shards.v1+json";
  EXPECT_OK(MessageFromJson(kType, good));
  auto refusal = [&](const char* key_name, json value) {
    json j = good;
    j[key_name] = std::move(value);
    return MessageFromJson(kType, j).status();
  };
  absl::Status none = refusal("shards", json::array());
  EXPECT_NE(none.message().find("/store_shards/shards: must be a non-empty array"),
            std::string::npos)
      << none;
  json many = json::array();
  for (size_t i = 0; i <= kMaxShardsPerMessage; ++i) many.push_back(good["shards"][0]);
  absl::Status flood = refusal("shards", many);
  EXPECT_NE(flood.message().find("has more than 4096"), std::string::npos) << flood;
  absl::Status cid = refusal("shards", json::array({{{"cid", "bafy-not"}, {"bytes", 1}}}));
  EXPECT_NE(cid.message().find("/store_shards/shards/0/cid"), std::string::npos) << cid;
  absl::Status bytes =
      refusal("shards", json::array({{{"cid", good["shards"][0]["cid"]}, {"bytes", -1}}}));
  EXPECT_NE(bytes.message().find("/store_shards/shards/0/bytes"), std::string::npos) << bytes;
  EXPECT_FALSE(refusal("file", "not-a-cid").ok());
  EXPECT_FALSE(refusal("source_address", 7).ok());

  json held = ToJson(SampleMessages(key, key)[14]);
  held["sent_at_ms"] = kNow;
  held["nonce"] = kNonce;
  held["shards"] = json::array({"x"});
  absl::Status bad = MessageFromJson("application/vnd.mesh.shards_held.v1+json", held).status();
  EXPECT_NE(bad.message().find("/shards_held/shards/0: must be a CID"), std::string::npos) << bad;

  json audit = ToJson(SampleMessages(key, key)[15]);
  audit["sent_at_ms"] = kNow;
  audit["nonce"] = kNonce;
  constexpr char kAudit[] = "application/vnd.mesh.audit_challenge.v1+json";
  EXPECT_OK(MessageFromJson(kAudit, audit));
  audit["length"] = kMaxAuditBytes + 1;  // a holder is never made to hash more than 64 KiB
  EXPECT_FALSE(MessageFromJson(kAudit, audit).ok());
  audit["length"] = 0;
  EXPECT_FALSE(MessageFromJson(kAudit, audit).ok());
  json proof = ToJson(SampleMessages(key, key)[16]);
  proof["sent_at_ms"] = kNow;
  proof["nonce"] = kNonce;
  proof["sha256"] = "ABC";
  EXPECT_FALSE(MessageFromJson("application/vnd.mesh.audit_proof.v1+json", proof).ok());
}

TEST(MarketTest, DeeplyNestedPayloadIsRefused) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  constexpr size_t kDepth = 300000;
  const std::string deep = std::string(kDepth, '[') + std::string(kDepth, ']');
  json receipt = ToJson(SampleMessages(key, key)[6]);
  receipt["sent_at_ms"] = kNow;
  receipt["nonce"] = kNonce;
  receipt["report"] = "DEEP";
  std::string in_report = receipt.dump();
  in_report.replace(in_report.find("\"DEEP\""), 6, "{\"x\":" + deep + "}");
  for (const std::string& payload : {"{\"colour\":" + deep + "}", in_report}) {
    absl::StatusOr<OpenedMessage> opened = OpenMessage(
        crypto::Envelope::Seal(key, "application/vnd.mesh.receipt.v1+json", payload).Serialize(),
        kMax);
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument);
    if (payload == in_report) {
      EXPECT_EQ(opened.status().message(), "/receipt/report: is nested deeper than 32 levels");
    }
  }
}

// Each case edits one valid message's JSON and expects an error naming the path.
TEST(MarketTest, MalformedFieldsNameTheirPath) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  const std::vector<Message> samples = SampleMessages(key, key);
  auto sample = [&](size_t index) {
    json j = ToJson(samples[index]);
    j["sent_at_ms"] = kNow;
    j["nonce"] = kNonce;
    return j;
  };
  struct Case {
    size_t index;
    std::string pointer;  // JSON pointer to edit
    json value;           // null: remove the field
    std::string expected;
  };
  const std::string long_text(300, 'a');
  json many_names = json::array();
  for (int i = 0; i < 33; ++i) many_names.push_back(mesh::StrCat("cap", i));
  json deep = json::object();
  for (int i = 0; i < 40; ++i) deep = json{{"x", deep}};
  const std::vector<Case> cases = {
      {1, "/price", -1, "/bid/price: must be a non-negative integer"},
      {1, "/price", "51", "/bid/price: must be a non-negative integer"},
      {1, "/price", true, "/bid/price: must be a non-negative integer"},
      {1, "/price", 0, "/bid/price: must be at least base_fee"},
      {1, "/round", 1ull << 33, "/bid/round: must be at most 4294967295"},
      {1, "/executor", "did:key:zNope", "/bid/executor: "},
      {1, "/executor", nullptr, "/bid/executor: is required"},
      {1, "/job_id", "bafy-not-a-cid", "/bid/job_id: "},
      {1, "/nonce", "0011", "/bid/nonce: must be 32 lower-case hex"},
      {1, "/nonce", "00112233445566778899AABBCCDDEEFF", "/bid/nonce: must be 32 lower-case hex"},
      {1, "/sent_at_ms", 0, "/bid/sent_at_ms: must be between 1"},
      {1, "/sent_at_ms", nullptr, "/bid/sent_at_ms: is required"},
      {1, "/colour", "red", "/bid/colour: unknown field"},
      {1, "/load", "high", "/bid/load: must be a number"},
      {1, "/load", -0.5, "/bid/load: must be a number between"},
      {1, "/capabilities/0", "no spaces", "/bid/capabilities/0: must be 1 to 64 characters"},
      {1, "/capabilities", many_names, "/bid/capabilities: has more than 32 items"},
      {1, "/executor_address", long_text, "/bid/executor_address: is longer than 256 bytes"},
      {1, "/expected_start_ms", -1, "/bid/expected_start_ms: must be between 0"},
      {1, "/expected_finish_ms", kNow, "/bid/expected_finish_ms: must not be before"},
      {1, "/fuel_per_second", -1, "/bid/fuel_per_second: must be a non-negative integer"},
      {1, "/fuel_per_second", 1ull << 60, "/bid/fuel_per_second: must be at most"},
      {8, "/fuel_per_second", "fast", "/heartbeat/fuel_per_second: must be a non-negative"},
      {0, "/module_cid", nullptr, "/announce/module_cid: is required"},
      {0, "/exclude/0", "did:web:example.com", "/announce/exclude/0: "},
      {0, "/requirements/trust_scope", "friends",
       "/announce/requirements/trust_scope: must be one of any, federation, known"},
      {0, "/requirements/min_reputation", 1.5,
       "/announce/requirements/min_reputation: must be a number between 0 and 1"},
      {0, "/requirements/federations/0", "", "/announce/requirements/federations/0: must be 1"},
      {0, "/requirements/gpus", 1, "/announce/requirements/gpus: unknown field"},
      {0, "/memory_bytes", 1ull << 40, "/announce/memory_bytes: must be at most"},
      {2, "/code", "", "/decline/code: must be 1 to 64"},
      {2, "/message", std::string(2000, 'x'), "/decline/message: is longer than 1024"},
      {3, "/spec_envelope", "not base64!", "/assignment/spec_envelope: "},
      {3, "/spec_envelope", "", "/assignment/spec_envelope: must not be empty"},
      {3, "/bid_cid", 7, "/assignment/bid_cid: must be a string"},
      {4, "/accepted", nullptr, "/assignment_ack/accepted: is required"},
      {4, "/accepted", 1, "/assignment_ack/accepted: must be true or false"},
      {5, "/fraction", 1.01, "/progress/fraction: must be a number between 0 and 1"},
      {6, "/report", json::array(), "/receipt/report: must be an object"},
      {6, "/report", deep, "/receipt/report: is nested deeper than 32 levels"},
      {6, "/finished_at_ms", kNow - 1, "/receipt/finished_at_ms: is before started_at_ms"},
      {6, "/exit_code", 1ll << 31, "/receipt/exit_code: must be between"},
      {6, "/output_cid", "nope", "/receipt/output_cid: "},
      {7, "/origin", 12, "/cancel/origin: must be a string"},
      {8, "/peers/0/did", "x", "/heartbeat/peers/0/did: "},
      {8, "/peers/0/port", 7000, "/heartbeat/peers/0/port: unknown field"},
      {8, "/peers/0", "10.0.0.3", "/heartbeat/peers/0: must be an object"},
      {8, "/draining", "no", "/heartbeat/draining: must be true or false"},
      {9, "/offset", 1.5, "/blob_request/offset: must be a non-negative integer"},
      {3, "/resume_checkpoint", "not-a-cid", "/assignment/resume_checkpoint: "},
      {10, "/kind", "snapshot", "/artifact/kind: must be checkpoint or partial"},
      {10, "/cid", nullptr, "/artifact/cid: is required"},
      {10, "/index", -1, "/artifact/index: must be a non-negative integer"},
      {10, "/bytes", "24", "/artifact/bytes: must be a non-negative integer"},
  };
  for (const Case& c : cases) {
    json j = sample(c.index);
    const json::json_pointer pointer(c.pointer);
    if (c.value.is_null()) {
      j[pointer.parent_pointer()].erase(pointer.back());
    } else {
      j[pointer] = c.value;
    }
    const std::string_view type = PayloadType(samples[c.index]);
    ASSERT_OK(MessageFromJson(type, sample(c.index)));
    absl::StatusOr<Message> message = MessageFromJson(type, j);
    ASSERT_FALSE(message.ok()) << c.pointer << " = " << c.value.dump();
    EXPECT_EQ(message.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(message.status().message().find(c.expected), 0u)
        << c.pointer << " = " << c.value.dump() << " -> " << message.status();
  }
  EXPECT_NE(MessageFromJson(PayloadType(samples[1]), json::array())
                .status()
                .message()
                .find("/bid: must be an object"),
            std::string::npos);
}

TEST(MarketTest, MalformedFieldFromAPeerIsRefusedByOpenMessage) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  json j = ToJson(SampleMessages(key, key)[1]);
  j["sent_at_ms"] = kNow;
  j["nonce"] = kNonce;
  j["price"] = -5;
  absl::StatusOr<OpenedMessage> opened = OpenMessage(
      crypto::Envelope::Seal(key, "application/vnd.mesh.bid.v1+json", j.dump()).Serialize(), kMax);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(opened.status().message(), "/bid/price: must be a non-negative integer");
}

TEST(MarketTest, MalformedKeyGrantsAreRefused) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  const json good = ToJson(SampleMessages(key, key)[3]);
  ASSERT_TRUE(good.contains("key_grants"));
  auto open = [&](const std::function<void(json&)>& change) {
    json j = good;
    j["sent_at_ms"] = kNow;
    j["nonce"] = kNonce;
    change(j);
    return OpenMessage(
        crypto::Envelope::Seal(key, "application/vnd.mesh.assignment.v1+json", j.dump())
            .Serialize(),
        kMax);
  };
  EXPECT_OK(open([](json&) {}));
  const std::vector<std::pair<std::function<void(json&)>, std::string>> cases = {
      {[](json& j) { j["key_grants"] = "grants"; }, "/assignment/key_grants: must be an array"},
      {[](json& j) { j["key_grants"][0]["file"] = "not a cid"; }, "/key_grants/0/file"},
      {[](json& j) { j["key_grants"][0]["sealed_key"] = "***"; }, "/key_grants/0/sealed_key"},
      {[](json& j) { j["key_grants"][0]["sealed_key"] = std::string(400, 'A'); },
       "/key_grants/0/sealed_key"},
      {[](json& j) { j["key_grants"][0].erase("holders"); }, "/key_grants/0/holders"},
      {[](json& j) { j["key_grants"][0]["holders"][1]["index"] = 255; },
       "/key_grants/0/holders/1/index"},
      {[](json& j) { j["key_grants"][0]["holders"][0]["did"] = "did:web:x"; },
       "/key_grants/0/holders/0/did"},
      {[](json& j) { j["key_grants"][0]["extra"] = 1; }, "/key_grants/0"},
      {[](json& j) {
         j["key_grants"][0]["holders"] = json::array();
         for (int i = 0; i < 256; ++i) j["key_grants"][0]["holders"].push_back(json::object());
       },
       "has more than 255 items"},
      {[](json& j) {
         for (int i = 0; i < 64; ++i) j["key_grants"].push_back(j["key_grants"][0]);
       },
       "has more than 64 items"},
  };
  for (const auto& [change, want] : cases) {
    absl::StatusOr<OpenedMessage> opened = open(change);
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument) << want;
    EXPECT_NE(opened.status().message().find(want), std::string::npos) << opened.status();
  }
}

TEST(MarketTest, QuotePriceRoundsUpAndSaturates) {
  constexpr uint64_t kTop = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(QuotePrice(1, 10, 1'000'000'000), 11u);
  EXPECT_EQ(QuotePrice(1, 10, 5'000'000'000), 51u);
  EXPECT_EQ(QuotePrice(1, 10, 1), 2u);           // a fraction of a credit rounds up
  EXPECT_EQ(QuotePrice(5, 3, 500'000'000), 7u);  // 1.5 -> 2
  EXPECT_EQ(QuotePrice(5, 2, 500'000'000), 6u);  // exactly 1
  EXPECT_EQ(QuotePrice(7, 0, kTop), 7u);
  EXPECT_EQ(QuotePrice(0, 0, 0), 0u);
  EXPECT_EQ(QuotePrice(0, 1'000'000'000, kTop), kTop);  // exact, via a 128-bit product
  EXPECT_EQ(QuotePrice(1, 1'000'000'000, kTop), kTop);  // saturates
  EXPECT_EQ(QuotePrice(kTop - 1, 10, 1'000'000'000), kTop);
  EXPECT_EQ(QuotePrice(0, kTop, kTop), kTop);
}

}  // namespace
}  // namespace mesh::job
