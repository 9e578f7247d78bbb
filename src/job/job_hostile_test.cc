// Regression tests for issue 13, finding 4 (the spec side): numbers in job specs and market
// messages come from anyone who can submit or peer. None may throw (`"fuel": 1e400` made
// nlohmann throw out_of_range.406 through the API) and every one is range-checked, with an
// InvalidArgument that names the field. Each numeric field of every message is tried in turn.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "market_test_util.h"
#include "mesh/common/strings.h"
#include "mesh/common/testing.h"
#include "mesh/crypto/envelope.h"
#include "mesh/job/job_spec.h"
#include "mesh/job/market.h"

namespace mesh::job {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

using namespace ::mesh::job::market_fixtures;  // NOLINT: the shared message fixtures

// Values no field accepts: out of double's range, past uint64, far past every maximum.
const std::vector<std::string> kNeverValid = {"1e400", "-1e400", "18446744073709551616",
                                              "1e300", "-1e300", "99999999999999999999999"};
// Values that must be checked and may be valid for some fields: no throw either way.
const std::vector<std::string> kOdd = {
    "-1", "1.5", "0", "-0", "9223372036854775808", "\"1\"", "true", "null", "[]", "{}", "4.9e-324"};

// Calls `check(path, key, text)` with `payload` rewritten so that the number at each JSON path
// (outside free-form objects such as a receipt's report) holds each of `values` in turn.
void ForEachNumber(
    const std::string& payload, const std::vector<std::string>& values,
    const std::function<void(const std::string&, const std::string&, const std::string&)>& check) {
  const json flat = json::parse(payload).flatten();
  for (const auto& [path, leaf] : flat.items()) {
    if (!leaf.is_number() || path.rfind("/report", 0) == 0) continue;
    for (const std::string& value : values) {
      json changed = flat;
      changed[path] = "@@HOSTILE@@";
      std::string text = changed.unflatten().dump();
      text.replace(text.find("\"@@HOSTILE@@\""), 13, value);
      check(path, path.substr(path.rfind('/') + 1), text);
    }
  }
}

TEST(JobHostileTest, FuelOf1e400InASignedSpecIsInvalidArgumentNotAThrow) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  JobSpec plain;
  plain.module = kModule;
  plain.created_at_ms = kNow;
  plain.nonce = "00112233";
  json spec = ToJson(SignJobSpec(plain, key).spec);
  spec["limits"]["fuel"] = "@";
  std::string text = spec.dump();
  text.replace(text.find("\"@\""), 3, "1e400");
  const std::string envelope = crypto::Envelope::Seal(key, kJobSpecPayloadType, text).Serialize();
  absl::StatusOr<SignedJobSpec> opened = OpenJobSpec(envelope);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(opened.status().message()), HasSubstr("job spec payload"));
  EXPECT_THAT(std::string(opened.status().message()), HasSubstr("1e400"));
}

TEST(JobHostileTest, EveryNumberInAJobSpecIsRangeChecked) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  JobSpec spec;
  spec.module = kModule;
  spec.inputs = {cas::Cid::Of("input").ToString()};
  spec.limits.fuel = 1000;
  spec.limits.memory_bytes = 1 << 20;
  spec.limits.wall_time_ms = 1000;
  spec.limits.max_output_bytes = 1000;
  spec.priority = 5;
  spec.created_at_ms = kNow;
  spec.nonce = "00112233";
  spec.requirements.cpu_cores = 2;
  spec.requirements.min_reputation = 0.5;
  spec.requirements.max_price = 100;
  const std::string payload = CanonicalJson(SignJobSpec(spec, key).spec);
  int checked = 0;
  auto open = [&](const std::string& text) {
    return OpenJobSpec(crypto::Envelope::Seal(key, kJobSpecPayloadType, text).Serialize());
  };
  ForEachNumber(payload, kNeverValid,
                [&](const std::string& path, const std::string& field, const std::string& text) {
                  absl::StatusOr<SignedJobSpec> opened = open(text);
                  ASSERT_FALSE(opened.ok()) << path << " accepted " << text;
                  EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument)
                      << opened.status();
                  // A value the parser accepts is refused by the field, which the error names.
                  if (text.find("e400") == std::string::npos) {
                    EXPECT_THAT(std::string(opened.status().message()), HasSubstr(field)) << path;
                  }
                  ++checked;
                });
  ForEachNumber(payload, kOdd,
                [&](const std::string&, const std::string&, const std::string& text) {
                  absl::StatusOr<SignedJobSpec> opened = open(text);
                  if (!opened.ok()) {
                    EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument);
                  }
                });
  EXPECT_GE(checked, 8 * 6);  // limits (4), priority, created_at_ms, requirements (3)
}

TEST(JobHostileTest, EveryNumberInEveryMarketMessageIsRangeChecked) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  crypto::KeyPair other = crypto::KeyPair::Generate();
  int checked = 0;
  for (const Message& message : SampleMessages(key, other)) {
    const crypto::Envelope sealed = SealMessage(key, message, kNow, kNonce);
    const std::string type = sealed.payload_type();
    auto open = [&](const std::string& text) {
      return OpenMessage(crypto::Envelope::Seal(key, type, text).Serialize(), kMax);
    };
    ForEachNumber(
        sealed.payload(), kNeverValid,
        [&](const std::string& path, const std::string& field, const std::string& text) {
          absl::StatusOr<OpenedMessage> opened = open(text);
          ASSERT_FALSE(opened.ok()) << type << path << " accepted " << text;
          EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument) << opened.status();
          if (text.find("e400") == std::string::npos) {
            EXPECT_THAT(std::string(opened.status().message()), HasSubstr(field)) << type << path;
          }
          ++checked;
        });
    ForEachNumber(sealed.payload(), kOdd,
                  [&](const std::string&, const std::string&, const std::string& text) {
                    absl::StatusOr<OpenedMessage> opened = open(text);
                    if (!opened.ok()) {
                      EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument);
                    }
                  });
  }
  EXPECT_GT(checked, 100);
}

TEST(JobHostileTest, PricesFitTheLedgersInt64Credits) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  crypto::KeyPair other = crypto::KeyPair::Generate();
  const crypto::Envelope sealed = SealMessage(key, SampleMessages(key, other)[1], kNow, kNonce);
  for (const char* field : {"price", "base_fee", "rate_per_gfuel"}) {
    json bid = json::parse(sealed.payload());
    bid[field] = uint64_t{1} << 63;
    absl::StatusOr<OpenedMessage> opened = OpenMessage(
        crypto::Envelope::Seal(key, sealed.payload_type(), bid.dump()).Serialize(), kMax);
    EXPECT_EQ(opened.status().message(),
              mesh::StrCat("/bid/", field, ": must be at most 9223372036854775807"));
  }
}

TEST(JobHostileTest, DeeplyNestedPayloadsAreRefusedWithoutRecursion) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  // As deep as the spec size limit allows.
  const size_t depth = kMaxSpecBytes / 2 - 64;
  const std::string deep = std::string(depth, '[') + std::string(depth, ']');
  absl::StatusOr<SignedJobSpec> spec =
      OpenJobSpec(crypto::Envelope::Seal(key, kJobSpecPayloadType, deep).Serialize());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  // In a receipt's free-form report, and as the whole of a message.
  Receipt receipt;
  receipt.job_id = kJob;
  receipt.round = 1;
  receipt.executor = Did(key);
  receipt.outcome = "succeeded";
  receipt.started_at_ms = kNow;
  receipt.finished_at_ms = kNow;
  const crypto::Envelope sealed = SealMessage(key, receipt, kNow, kNonce);
  std::string text = sealed.payload();
  const std::string nested = std::string(200'000, '[') + std::string(200'000, ']');
  text.insert(text.size() - 1, ",\"report\":{\"x\":" + nested + "}");
  absl::StatusOr<OpenedMessage> opened =
      OpenMessage(crypto::Envelope::Seal(key, sealed.payload_type(), text).Serialize(), 1 << 22);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument) << opened.status();
  opened =
      OpenMessage(crypto::Envelope::Seal(key, sealed.payload_type(), nested).Serialize(), 1 << 22);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument) << opened.status();
}

}  // namespace
}  // namespace mesh::job
