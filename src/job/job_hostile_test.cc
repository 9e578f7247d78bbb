// Regression tests for issue 13, finding 4 (the spec side): numbers in job specs and market
// messages come from anyone who can submit or peer. None may throw (`"fuel": 1e400` made
// nlohmann throw out_of_range.406 through the API) and every one is range-checked, with an
// InvalidArgument that names the field. Each numeric field of every message is tried in turn.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "mesh/common/strings.h"
#include "mesh/common/testing.h"
#include "mesh/crypto/envelope.h"
#include "mesh/job/job_spec.h"
#include "mesh/job/market.h"

namespace mesh::job {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr int64_t kNow = 1700000000000;
constexpr std::string_view kNonce = "00112233445566778899aabbccddeeff";
constexpr size_t kMax = 1 << 20;
const std::string kJob = cas::Cid::Of("job envelope").ToString();
const std::string kModule = cas::Cid::Of("module bytes").ToString();

std::string Did(const crypto::KeyPair& key) { return key.did().ToString(); }

// One of each message, all authored by `author`.
std::vector<Message> SampleMessages(const crypto::KeyPair& author, const crypto::KeyPair& other) {
  Announce announce;
  announce.job_id = kJob;
  announce.origin = Did(author);
  announce.origin_address = "10.0.0.1:7000";
  announce.round = 2;
  announce.module_cid = kModule;
  announce.module_bytes = 4096;
  announce.input_bytes = 100;
  announce.fuel = 5'000'000'000;
  announce.memory_bytes = 64 << 20;
  announce.wall_time_ms = 60000;
  announce.requirements.cpu_cores = 2;
  announce.requirements.capabilities = {"gpu", "avx2"};
  announce.requirements.federations = {"lab.eu"};
  announce.requirements.trust_scope = "federation";
  announce.requirements.min_reputation = 0.25;
  announce.requirements.max_price = 1000;
  announce.bid_deadline_ms = kNow + 500;
  announce.exclude = {Did(other)};

  Bid bid;
  bid.job_id = kJob;
  bid.round = 2;
  bid.executor = Did(author);
  bid.executor_address = "10.0.0.2:7000";
  bid.base_fee = 1;
  bid.rate_per_gfuel = 10;
  bid.price = 51;
  bid.cpu_cores = 8;
  bid.memory_bytes = 1ull << 33;
  bid.storage_bytes = 1ull << 30;
  bid.capabilities = {"gpu"};
  bid.federations = {"lab.eu", "home"};
  bid.load = 0.5;
  bid.queued = 1;
  bid.expected_start_ms = kNow + 100;
  bid.valid_until_ms = kNow + 30000;

  Decline decline{{}, kJob, 0, Did(author), "no_capacity", "2 of 2 slots busy, 4 queued"};

  Assignment assignment;
  assignment.job_id = kJob;
  assignment.round = 1;
  assignment.origin = Did(author);
  assignment.origin_address = "10.0.0.1:7000";
  assignment.executor = Did(other);
  assignment.bid_cid = cas::Cid::Of("bid envelope").ToString();
  assignment.spec_envelope = std::string("MSE\x01\x00\xff binary", 14);
  assignment.deadline_ms = kNow + 60000;
  assignment.resume_checkpoint = cas::Cid::Of("checkpoint").ToString();

  AssignmentAck ack{{}, kJob, 1, Did(author), true, ""};
  Progress progress{{}, kJob, 1, Did(author), 0.75, "chunk 3 of 4"};

  Receipt receipt;
  receipt.job_id = kJob;
  receipt.round = 1;
  receipt.executor = Did(author);
  receipt.assignment_cid = cas::Cid::Of("assignment").ToString();
  receipt.outcome = "succeeded";
  receipt.exit_code = -3;
  receipt.output_cid = cas::Cid::Of("output").ToString();
  receipt.output_bytes = 6;
  receipt.fuel_used = 12345;
  receipt.report = {{"fuel", 12345}, {"engine", "aot"}};
  receipt.started_at_ms = kNow;
  receipt.finished_at_ms = kNow + 20;

  CancelJob cancel{{}, kJob, 1, Did(author), "submitter cancelled"};

  Heartbeat heartbeat;
  heartbeat.node = Did(author);
  heartbeat.address = "10.0.0.1:7000";
  heartbeat.cpu_cores = 4;
  heartbeat.memory_bytes = 1ull << 32;
  heartbeat.max_concurrent = 2;
  heartbeat.running = 1;
  heartbeat.draining = true;
  heartbeat.capabilities = {"avx2"};
  heartbeat.peers = {{Did(other), "10.0.0.3:7000"}};

  BlobRequest blob{{}, Did(author), kModule, 1024};
  Artifact artifact{{}, kJob, 1, Did(author), "checkpoint", 2, cas::Cid::Of("state").ToString(),
                    24, 5000};

  return {announce, bid,    decline,   assignment, ack,     progress,
          receipt,  cancel, heartbeat, blob,       artifact};
}

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
