#include "mesh/job/job_spec.h"

#include <gtest/gtest.h>

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
  };
  for (const Case& c : cases) {
    absl::StatusOr<JobSpec> spec = JobSpecFromJson(c.body, false);
    ASSERT_FALSE(spec.ok()) << c.body.dump();
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(spec.status().message()).find(c.expected), std::string::npos)
        << c.body.dump() << " -> " << spec.status();
  }
}

TEST(JobSpecTest, SignedSpecRequiresIdentity) {
  json j = {{"module", kModule}};
  EXPECT_TRUE(JobSpecFromJson(j, false).ok());
  EXPECT_FALSE(JobSpecFromJson(j, true).ok());
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
