#include "mesh/job/job_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mesh/common/strings.h"
#include "mesh/common/testing.h"
#include "mesh/job/job_state.h"

namespace mesh::job {
namespace {

using nlohmann::json;

const std::string kModule = cas::Cid::Of("module bytes").ToString();
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

TEST(JobSpecTest, SignedSpecOpensWithTheSameIdAndFields) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  SignedJobSpec signed_spec = SignJobSpec(SampleSpec(), key);
  EXPECT_EQ(signed_spec.spec.submitter, key.did().ToString());
  ASSERT_OK_AND_ASSIGN(SignedJobSpec opened, OpenJobSpec(signed_spec.envelope));
  EXPECT_EQ(opened.id, signed_spec.id);
  EXPECT_EQ(opened.id, cas::Cid::Of(signed_spec.envelope));
  EXPECT_EQ(CanonicalJson(opened.spec), CanonicalJson(signed_spec.spec));
  EXPECT_EQ(opened.spec.args, (std::vector<std::string>{"--n", "128"}));
  EXPECT_EQ(opened.spec.priority, 5);
}

// A spec built in code is signed only if a reader would accept it: the same envelope as
// SignJobSpec when it would, the parser's error (naming the field) when not.
TEST(JobSpecTest, CheckAndSignSignsWhatOpensAndRefusesWhatWouldNot) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  ASSERT_OK_AND_ASSIGN(SignedJobSpec checked, CheckAndSignJobSpec(SampleSpec(), key));
  EXPECT_EQ(checked.envelope, SignJobSpec(SampleSpec(), key).envelope);
  EXPECT_OK(OpenJobSpec(checked.envelope).status());

  JobSpec zero_parts = SampleSpec();
  zero_parts.split.emplace();
  zero_parts.split->splitter.kind = Splitter::kLines;
  zero_parts.split->splitter.parts = 0;
  absl::StatusOr<SignedJobSpec> refused = CheckAndSignJobSpec(zero_parts, key);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), ::testing::HasSubstr("parts"));
  // SignJobSpec signs it regardless, and no reader accepts what it signed.
  EXPECT_FALSE(OpenJobSpec(SignJobSpec(zero_parts, key).envelope).ok());

  JobSpec no_module = SampleSpec();
  no_module.module = "not a cid";
  EXPECT_EQ(CheckAndSignJobSpec(no_module, key).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(JobSpecTest, DifferentNonceGivesDifferentId) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  JobSpec a = SampleSpec();
  JobSpec b = SampleSpec();
  b.nonce = "00112234";
  EXPECT_NE(SignJobSpec(a, key).id, SignJobSpec(b, key).id);
}

TEST(JobSpecTest, TamperedEnvelopeIsRefused) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  std::string envelope = SignJobSpec(SampleSpec(), key).envelope;
  const size_t at = envelope.find("128");
  ASSERT_NE(at, std::string::npos);
  envelope[at] = '9';
  EXPECT_FALSE(OpenJobSpec(envelope).ok());
  EXPECT_FALSE(OpenJobSpec(envelope.substr(0, envelope.size() / 2)).ok());
  EXPECT_FALSE(OpenJobSpec("").ok());
}

TEST(JobSpecTest, SubmitterMustBeTheSigner) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  crypto::KeyPair other = crypto::KeyPair::Generate();
  JobSpec spec = SampleSpec();
  spec.submitter = other.did().ToString();
  std::string envelope =
      crypto::Envelope::Seal(key, kJobSpecPayloadType, CanonicalJson(spec)).Serialize();
  absl::StatusOr<SignedJobSpec> opened = OpenJobSpec(envelope);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(JobSpecTest, ErrorsNameTheJsonPath) {
  struct Case {
    json body;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {json::array(), "must be an object"},
      {json::object(), "/module: is required"},
      {{{"module", "bafy-not-a-cid"}}, "/module: "},
      {{{"module", kModule}, {"inputs", {kModule, 7}}}, "/inputs/1: must be a string"},
      {{{"module", kModule}, {"inputs", {"nope"}}}, "/inputs/0: "},
      {{{"module", kModule}, {"limits", {{"fuel", -1}}}}, "/limits/fuel: must be a non-negative"},
      {{{"module", kModule}, {"limits", {{"fuel", "lots"}}}}, "/limits/fuel: must be a non-neg"},
      {{{"module", kModule}, {"limits", {{"cpu", 1}}}}, "/limits/cpu: unknown field"},
      {{{"module", kModule}, {"priority", 101}}, "/priority: must be between -100 and 100"},
      {{{"module", kModule}, {"labels", {{"a", 1}}}}, "/labels/a: must be a string"},
      {{{"module", kModule}, {"env", {{"A=B", "x"}}}}, "/env/A=B: name must not contain '='"},
      {{{"module", kModule}, {"colour", "red"}}, "/colour: unknown field"},
      {{{"module", kModule}, {"deterministic", "yes"}}, "/deterministic: must be true or false"},
      {{{"module", kModule}, {"store_output", "4"}}, "/store_output: code '4': write K+M"},
      {{{"module", kModule}, {"store_output", "0+2"}}, "/store_output: "},
      {{{"module", kModule}, {"store_output", 42}}, "/store_output: must be a string"},
      {{{"module", kModule}, {"segment", 1}}, "/segment: names a segment of the first input"},
      {{{"module", kModule}, {"inputs", {kModule}}, {"segment", -1}}, "/segment: must be a non-"},
      {{{"module", kModule}, {"inputs", {kModule}}, {"segment", 1ull << 32}},
       "/segment: must be at most 4294967295"},
      {{{"module", kModule},
        {"inputs", {kModule}},
        {"segment", 0},
        {"split", {{"splitter", {{"kind", "segments"}}}}}},
       "/segment: a split job reads its whole input"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<JobSpec> spec = JobSpecFromJson(c.body, false);
    ASSERT_FALSE(spec.ok()) << c.body.dump();
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(spec.status().message()).find(c.expected), std::string::npos)
        << c.body.dump() << " -> " << spec.status();
  }
}

TEST(JobSpecTest, StoreOutputRoundTripsAndIsOmittedWhenEmpty) {
  JobSpec spec = SampleSpec();
  EXPECT_FALSE(ToJson(spec).contains("store_output"));
  spec.store_output = "4+2";
  const json j = ToJson(spec);
  EXPECT_EQ(j["store_output"], "4+2");
  ASSERT_OK_AND_ASSIGN(JobSpec back, JobSpecFromJson(j, false));
  EXPECT_EQ(back.store_output, "4+2");
  EXPECT_FALSE(j.contains("segment"));
  spec.segment = 0;  // present even at 0
  ASSERT_OK_AND_ASSIGN(back, JobSpecFromJson(ToJson(spec), false));
  EXPECT_EQ(back.segment, std::optional<uint32_t>(0));
}

TEST(JobSpecTest, SignedSpecRequiresIdentity) {
  json j = {{"module", kModule}};
  EXPECT_TRUE(JobSpecFromJson(j, false).ok());
  EXPECT_FALSE(JobSpecFromJson(j, true).ok());
}

TEST(JobSpecTest, RequirementsAndPlacementAreOmittedAtTheirDefaults) {
  const JobSpec spec = SampleSpec();
  const json j = ToJson(spec);
  EXPECT_FALSE(j.contains("requirements"));
  EXPECT_FALSE(j.contains("placement"));
  // The canonical bytes of a spec without them are what they were before they existed.
  EXPECT_EQ(CanonicalJson(spec),
            "{\"args\":[\"--n\",\"128\"],\"created_at_ms\":1700000000000,\"deterministic\":true,"
            "\"env\":{\"MODE\":\"fast\"},\"inputs\":[\"" +
                kInput +
                "\"],\"labels\":{\"team\":\"a\"},\"limits\":{\"fuel\":1000,\"max_output_bytes\":0,"
                "\"memory_bytes\":0,\"wall_time_ms\":0},\"module\":\"" +
                kModule + "\",\"nonce\":\"00112233\",\"priority\":5}");
  ASSERT_OK_AND_ASSIGN(JobSpec back, JobSpecFromJson(j, false));
  EXPECT_EQ(back.requirements, Requirements());
  EXPECT_EQ(back.placement, "auto");
}

TEST(JobSpecTest, RequirementsAndPlacementRoundTrip) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  JobSpec spec = SampleSpec();
  spec.requirements.cpu_cores = 4;
  spec.requirements.memory_bytes = 1ull << 30;
  spec.requirements.storage_bytes = 1ull << 20;
  spec.requirements.capabilities = {"gpu", "x86_64:avx2"};
  spec.requirements.federations = {"lab.eu"};
  spec.requirements.trust_scope = "known";
  spec.requirements.min_reputation = 0.75;
  spec.requirements.max_price = 500;
  spec.placement = "remote";
  const json j = ToJson(spec);
  EXPECT_EQ(j["placement"], "remote");
  EXPECT_EQ(j["requirements"]["trust_scope"], "known");
  SignedJobSpec signed_spec = SignJobSpec(spec, key);
  ASSERT_OK_AND_ASSIGN(SignedJobSpec opened, OpenJobSpec(signed_spec.envelope));
  EXPECT_EQ(opened.spec.requirements, spec.requirements);
  EXPECT_EQ(opened.spec.placement, "remote");
  EXPECT_NE(signed_spec.id, SignJobSpec(SampleSpec(), key).id);

  // A requirements object that equals the default is dropped on the way back out.
  json defaults = ToJson(SampleSpec());
  defaults["requirements"] = json::object();
  defaults["placement"] = "auto";
  ASSERT_OK_AND_ASSIGN(JobSpec read, JobSpecFromJson(defaults, false));
  EXPECT_EQ(CanonicalJson(read), CanonicalJson(SampleSpec()));
}

TEST(JobSpecTest, BadRequirementsAndPlacementNameThePath) {
  struct Case {
    json requirements;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {json::array(), "/requirements: must be an object"},
      {{{"trust_scope", "friends"}}, "/requirements/trust_scope: must be one of any, federation"},
      {{{"trust_scope", ""}}, "/requirements/trust_scope: must be one of"},
      {{{"min_reputation", 1.5}}, "/requirements/min_reputation: must be a number between 0 and 1"},
      {{{"min_reputation", -0.1}}, "/requirements/min_reputation: must be a number between"},
      {{{"min_reputation", "high"}}, "/requirements/min_reputation: must be a number"},
      {{{"min_reputation", true}}, "/requirements/min_reputation: must be a number"},
      {{{"cpu_cores", -1}}, "/requirements/cpu_cores: must be a non-negative integer"},
      {{{"cpu_cores", 1.5}}, "/requirements/cpu_cores: must be a non-negative integer"},
      {{{"memory_bytes", "1GiB"}}, "/requirements/memory_bytes: must be a non-negative integer"},
      {{{"max_price", false}}, "/requirements/max_price: must be a non-negative integer"},
      {{{"capabilities", "gpu"}}, "/requirements/capabilities: must be an array of strings"},
      {{{"capabilities", {"gpu", "has space"}}}, "/requirements/capabilities/1: must be 1 to 64"},
      {{{"capabilities", {""}}}, "/requirements/capabilities/0: must be 1 to 64"},
      {{{"federations", {std::string(65, 'f')}}}, "/requirements/federations/0: is longer than 64"},
      {{{"gpus", 2}}, "/requirements/gpus: unknown field"},
  };
  for (const Case& c : cases) {
    json j = {{"module", kModule}, {"requirements", c.requirements}};
    absl::StatusOr<JobSpec> spec = JobSpecFromJson(j, false);
    ASSERT_FALSE(spec.ok()) << j.dump();
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(spec.status().message().find(c.expected), 0u) << j.dump() << " -> " << spec.status();
  }
  json many = json::array();
  for (int i = 0; i < 33; ++i) many.push_back(mesh::StrCat("f", i));
  EXPECT_FALSE(
      JobSpecFromJson({{"module", kModule}, {"requirements", {{"federations", many}}}}, false)
          .ok());
  for (const json& placement : {json("elsewhere"), json(""), json(1)}) {
    absl::StatusOr<JobSpec> spec =
        JobSpecFromJson({{"module", kModule}, {"placement", placement}}, false);
    ASSERT_FALSE(spec.ok()) << placement.dump();
    EXPECT_EQ(spec.status().message().find("/placement: must be"), 0u) << spec.status();
  }
  for (const char* placement : {"auto", "local", "remote"}) {
    EXPECT_OK(JobSpecFromJson({{"module", kModule}, {"placement", placement}}, false));
  }
}

TEST(JobStateTest, MovesFollowTheLifecycle) {
  EXPECT_TRUE(CanMove(JobState::kQueued, JobState::kRunning));
  EXPECT_TRUE(CanMove(JobState::kRunning, JobState::kSucceeded));
  EXPECT_TRUE(CanMove(JobState::kRunning, JobState::kQueued));
  EXPECT_FALSE(CanMove(JobState::kSucceeded, JobState::kRunning));
  EXPECT_FALSE(CanMove(JobState::kCancelled, JobState::kQueued));
  EXPECT_FALSE(CanMove(JobState::kQueued, JobState::kSucceeded));
  for (JobState s : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded, JobState::kFailed,
                     JobState::kCancelled}) {
    EXPECT_EQ(ParseJobState(JobStateName(s)), s);
  }
  EXPECT_FALSE(ParseJobState("done").has_value());
}

}  // namespace
}  // namespace mesh::job
