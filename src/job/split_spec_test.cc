#include "mesh/job/split_spec.h"

#include <gtest/gtest.h>

#include "mesh/common/testing.h"
#include "mesh/job/job_spec.h"

namespace mesh::job {
namespace {

using nlohmann::json;

const std::string kModule = cas::Cid::Of("module bytes").ToString();
const std::string kChunkModule = cas::Cid::Of("chunk module bytes").ToString();
const std::string kSplitModule = cas::Cid::Of("split module bytes").ToString();
const std::string kMergeModule = cas::Cid::Of("merge module bytes").ToString();
const std::string kInput = cas::Cid::Of("input bytes").ToString();

JobSpec SampleSpec() {
  JobSpec spec;
  spec.module = kModule;
  spec.inputs = {kInput};
  spec.args = {"--n", "128"};
  spec.env = {{"MODE", "fast"}};
  spec.limits.fuel = 1000;
  spec.priority = 5;
  spec.labels = {{"team", "a"}};
  spec.created_at_ms = 1700000000000;
  spec.nonce = "00112233";
  return spec;
}

// The canonical bytes of SampleSpec() from before JobSpec had a split field.
const std::string kSampleCanonical =
    "{\"args\":[\"--n\",\"128\"],\"created_at_ms\":1700000000000,\"deterministic\":true,"
    "\"env\":{\"MODE\":\"fast\"},\"inputs\":[\"" +
    kInput +
    "\"],\"labels\":{\"team\":\"a\"},\"limits\":{\"fuel\":1000,\"max_output_bytes\":0,"
    "\"memory_bytes\":0,\"wall_time_ms\":0},\"module\":\"" +
    kModule + "\",\"nonce\":\"00112233\",\"priority\":5}";

std::vector<SplitSpec> AllKinds() {
  std::vector<SplitSpec> specs;
  SplitSpec bytes;
  bytes.splitter.kind = Splitter::kBytes;
  bytes.splitter.chunk_bytes = 1 << 20;
  specs.push_back(bytes);
  SplitSpec lines;
  lines.splitter.kind = Splitter::kLines;
  lines.splitter.parts = 10;
  lines.chunk_module = kChunkModule;
  specs.push_back(lines);
  SplitSpec records;
  records.splitter.kind = Splitter::kRecords;
  records.splitter.parts = kMaxSplitParts;
  records.splitter.separator = std::string("\0\r\n", 3);
  records.merger.kind = Merger::kWasm;
  records.merger.module = kMergeModule;
  specs.push_back(records);
  SplitSpec default_separator;
  default_separator.splitter.kind = Splitter::kRecords;
  default_separator.splitter.parts = 1;
  specs.push_back(default_separator);
  SplitSpec wasm;
  wasm.splitter.kind = Splitter::kWasm;
  wasm.splitter.module = kSplitModule;
  wasm.splitter.parts = 4;
  wasm.chunk_module = kChunkModule;
  wasm.merger.kind = Merger::kWasm;
  wasm.merger.module = kMergeModule;
  specs.push_back(wasm);
  SplitSpec segments;
  segments.splitter.kind = Splitter::kSegments;
  specs.push_back(segments);
  return specs;
}

TEST(SplitSpecTest, EveryKindRoundTrips) {
  for (const SplitSpec& split : AllKinds()) {
    const json j = ToJson(split);
    ASSERT_OK_AND_ASSIGN(SplitSpec back, SplitSpecFromJson(j, "/split"));
    EXPECT_EQ(back, split) << j.dump();
    EXPECT_EQ(ToJson(back).dump(), j.dump());
  }
}

TEST(SplitSpecTest, JsonHasOneSpelling) {
  SplitSpec lines;
  lines.splitter.kind = Splitter::kLines;
  lines.splitter.parts = 10;
  lines.chunk_module = kChunkModule;
  EXPECT_EQ(
      ToJson(lines).dump(),
      "{\"chunk_module\":\"" + kChunkModule +
          "\",\"merge\":{\"kind\":\"concat\"},\"splitter\":{\"kind\":\"lines\",\"parts\":10}}");
  // The merge object may be left out (concat), and a "\n" separator is the default.
  ASSERT_OK_AND_ASSIGN(
      SplitSpec records,
      SplitSpecFromJson({{"splitter", {{"kind", "records"}, {"parts", 3}, {"separator", "\n"}}}},
                        "/split"));
  EXPECT_EQ(records.merger.kind, Merger::kConcat);
  EXPECT_EQ(records.splitter.separator, "\n");
  EXPECT_EQ(ToJson(records).dump(),
            "{\"merge\":{\"kind\":\"concat\"},\"splitter\":{\"kind\":\"records\",\"parts\":3}}");
}

TEST(SplitSpecTest, JobSpecWithoutSplitKeepsItsBytes) {
  const JobSpec spec = SampleSpec();
  EXPECT_FALSE(ToJson(spec).contains("split"));
  EXPECT_EQ(CanonicalJson(spec), kSampleCanonical);
  ASSERT_OK_AND_ASSIGN(JobSpec back, JobSpecFromJson(ToJson(spec), false));
  EXPECT_FALSE(back.split.has_value());
  EXPECT_EQ(CanonicalJson(back), kSampleCanonical);
  // "split": null reads as absent, like every optional field.
  json with_null = ToJson(spec);
  with_null["split"] = nullptr;
  ASSERT_OK_AND_ASSIGN(JobSpec read, JobSpecFromJson(with_null, false));
  EXPECT_EQ(CanonicalJson(read), kSampleCanonical);
}

TEST(SplitSpecTest, JobSpecWithSplitRoundTripsThroughTheEnvelope) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  for (const SplitSpec& split : AllKinds()) {
    JobSpec spec = SampleSpec();
    spec.split = split;
    EXPECT_EQ(ToJson(spec)["split"], ToJson(split));
    SignedJobSpec signed_spec = SignJobSpec(spec, key);
    ASSERT_OK_AND_ASSIGN(SignedJobSpec opened, OpenJobSpec(signed_spec.envelope));
    ASSERT_TRUE(opened.spec.split.has_value());
    EXPECT_EQ(*opened.spec.split, split);
    EXPECT_EQ(opened.id, signed_spec.id);
    EXPECT_NE(signed_spec.id, SignJobSpec(SampleSpec(), key).id);
  }
  // The example from the header.
  json j = {{"module", kModule},
            {"split",
             {{"splitter", {{"kind", "lines"}, {"parts", 10}}},
              {"chunk_module", kChunkModule},
              {"merge", {{"kind", "concat"}}}}}};
  ASSERT_OK_AND_ASSIGN(JobSpec spec, JobSpecFromJson(j, false));
  ASSERT_TRUE(spec.split.has_value());
  EXPECT_EQ(spec.split->splitter.kind, Splitter::kLines);
  EXPECT_EQ(spec.split->splitter.parts, 10u);
  EXPECT_EQ(spec.split->chunk_module, kChunkModule);
}

TEST(SplitSpecTest, ErrorsNameTheJsonPath) {
  struct Case {
    json split;
    std::string expected;
  };
  const json lines = {{"kind", "lines"}, {"parts", 2}};
  const std::vector<Case> cases = {
      {json::array(), "/split: must be an object"},
      {json("lines"), "/split: must be an object"},
      {json::object(), "/split/splitter: is required"},
      {{{"splitter", lines}, {"merger", {{"kind", "concat"}}}}, "/split/merger: unknown field"},
      {{{"splitter", json::array()}}, "/split/splitter: must be an object"},
      {{{"splitter", json::object()}}, "/split/splitter/kind: is required"},
      {{{"splitter", {{"kind", 3}}}}, "/split/splitter/kind: must be a string"},
      {{{"splitter", {{"kind", "words"}}}},
       "/split/splitter/kind: must be one of bytes, lines, records, wasm"},
      {{{"splitter", {{"kind", "lines"}, {"size", 2}}}}, "/split/splitter/size: unknown field"},
      // bytes
      {{{"splitter", {{"kind", "bytes"}}}}, "/split/splitter/chunk_bytes: is required"},
      {{{"splitter", {{"kind", "bytes"}, {"chunk_bytes", 0}}}},
       "/split/splitter/chunk_bytes: must be an integer in 1.."},
      {{{"splitter", {{"kind", "bytes"}, {"chunk_bytes", -5}}}},
       "/split/splitter/chunk_bytes: must be an integer in 1.."},
      {{{"splitter", {{"kind", "bytes"}, {"chunk_bytes", 1.5}}}},
       "/split/splitter/chunk_bytes: must be an integer in 1.."},
      {{{"splitter", {{"kind", "bytes"}, {"chunk_bytes", "1MiB"}}}},
       "/split/splitter/chunk_bytes: must be an integer in 1.."},
      {{{"splitter", {{"kind", "bytes"}, {"chunk_bytes", UINT64_MAX}}}},
       "/split/splitter/chunk_bytes: must be an integer in 1.."},
      {{{"splitter", {{"kind", "bytes"}, {"chunk_bytes", 8}, {"parts", 2}}}},
       "/split/splitter/parts: does not apply to the bytes splitter"},
      // lines
      {{{"splitter", {{"kind", "lines"}}}}, "/split/splitter/parts: is required"},
      {{{"splitter", {{"kind", "lines"}, {"parts", 0}}}},
       "/split/splitter/parts: must be an integer in 1..100000"},
      {{{"splitter", {{"kind", "lines"}, {"parts", 100001}}}},
       "/split/splitter/parts: must be an integer in 1..100000"},
      {{{"splitter", {{"kind", "lines"}, {"parts", -1}}}},
       "/split/splitter/parts: must be an integer in 1..100000"},
      {{{"splitter", {{"kind", "lines"}, {"parts", true}}}},
       "/split/splitter/parts: must be an integer in 1..100000"},
      {{{"splitter", {{"kind", "lines"}, {"parts", 2}, {"separator", ","}}}},
       "/split/splitter/separator: does not apply to the lines splitter"},
      {{{"splitter", {{"kind", "lines"}, {"parts", 2}, {"chunk_bytes", 9}}}},
       "/split/splitter/chunk_bytes: does not apply to the lines splitter"},
      // records
      {{{"splitter", {{"kind", "records"}, {"separator", ","}}}},
       "/split/splitter/parts: is required"},
      {{{"splitter", {{"kind", "records"}, {"parts", 2}, {"separator", ""}}}},
       "/split/splitter/separator: must be a string of 1..16 bytes"},
      {{{"splitter", {{"kind", "records"}, {"parts", 2}, {"separator", std::string(17, ',')}}}},
       "/split/splitter/separator: must be a string of 1..16 bytes"},
      {{{"splitter", {{"kind", "records"}, {"parts", 2}, {"separator", 10}}}},
       "/split/splitter/separator: must be a string of 1..16 bytes"},
      {{{"splitter", {{"kind", "records"}, {"parts", 2}, {"module", kSplitModule}}}},
       "/split/splitter/module: does not apply to the records splitter"},
      // wasm
      {{{"splitter", {{"kind", "wasm"}}}}, "/split/splitter/module: is required"},
      {{{"splitter", {{"kind", "wasm"}, {"module", "bafy-not-a-cid"}}}},
       "/split/splitter/module: "},
      {{{"splitter", {{"kind", "wasm"}, {"module", ""}}}}, "/split/splitter/module: "},
      {{{"splitter", {{"kind", "wasm"}, {"module", kSplitModule}, {"separator", ","}}}},
       "/split/splitter/separator: does not apply to the wasm splitter"},
      {{{"splitter", {{"kind", "wasm"}, {"module", kSplitModule}, {"parts", 0}}}},
       "/split/splitter/parts: must be an integer in 1..100000"},
      {{{"splitter", {{"kind", "segments"}, {"parts", 4}}}},
       "/split/splitter/parts: does not apply to the segments splitter"},
      // chunk_module
      {{{"splitter", lines}, {"chunk_module", "nope"}}, "/split/chunk_module: "},
      {{{"splitter", lines}, {"chunk_module", ""}}, "/split/chunk_module: "},
      {{{"splitter", lines}, {"chunk_module", 7}}, "/split/chunk_module: must be a string"},
      // merge
      {{{"splitter", lines}, {"merge", "concat"}}, "/split/merge: must be an object"},
      {{{"splitter", lines}, {"merge", json::object()}}, "/split/merge/kind: is required"},
      {{{"splitter", lines}, {"merge", {{"kind", "sum"}}}},
       "/split/merge/kind: must be one of concat, wasm"},
      {{{"splitter", lines}, {"merge", {{"kind", "wasm"}}}}, "/split/merge/module: is required"},
      {{{"splitter", lines}, {"merge", {{"kind", "wasm"}, {"module", "x"}}}},
       "/split/merge/module: "},
      {{{"splitter", lines}, {"merge", {{"kind", "concat"}, {"module", kMergeModule}}}},
       "/split/merge/module: does not apply to the concat merger"},
      {{{"splitter", lines}, {"merge", {{"kind", "concat"}, {"order", "any"}}}},
       "/split/merge/order: unknown field"},
  };
  for (const Case& c : cases) {
    json j = {{"module", kModule}, {"split", c.split}};
    absl::StatusOr<JobSpec> spec = JobSpecFromJson(j, false);
    ASSERT_FALSE(spec.ok()) << j.dump();
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(spec.status().message().find(c.expected), 0u) << j.dump() << " -> " << spec.status();
  }
}

TEST(SplitSpecTest, LimitsAreInclusive) {
  for (const json& splitter :
       {json{{"kind", "lines"}, {"parts", 1}}, json{{"kind", "lines"}, {"parts", 100000}},
        json{{"kind", "bytes"}, {"chunk_bytes", 1}},
        json{{"kind", "records"}, {"parts", 1}, {"separator", std::string(16, ';')}},
        json{{"kind", "records"}, {"parts", 1}, {"separator", ";"}}}) {
    EXPECT_OK(SplitSpecFromJson({{"splitter", splitter}}, "/split")) << splitter.dump();
  }
}

}  // namespace
}  // namespace mesh::job
