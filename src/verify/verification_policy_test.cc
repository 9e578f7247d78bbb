#include "mesh/verify/verification_policy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "mesh/common/strings.h"
#include "mesh/common/testing.h"

namespace mesh::verify {
namespace {

bool Has(std::string_view text, std::string_view part) {
  return text.find(part) != std::string::npos;
}
bool Has(absl::string_view text, std::string_view part) { return Has(ToStd(text), part); }
bool Has(const std::string& text, std::string_view part) {
  return Has(std::string_view(text), part);
}

TEST(VerificationPolicyTest, ParsesEveryMode) {
  struct Case {
    std::string text;
    Verification want;
  };
  const std::vector<Case> cases = {
      {"none", {Mode::kNone, 1}},
      {"hash", {Mode::kHash, 1}},
      {"adaptive", {Mode::kAdaptive, 1}},
      {"replicate", {Mode::kReplicate, 3}},
      {"replicate(1)", {Mode::kReplicate, 1}},
      {"replicate(2)", {Mode::kReplicate, 2}},
      {"replicate(3)", {Mode::kReplicate, 3}},
      {"replicate(9)", {Mode::kReplicate, 9}},
  };
  for (const Case& c : cases) {
    ASSERT_OK_AND_ASSIGN(Verification v, ParseVerification(c.text));
    EXPECT_EQ(v, c.want) << c.text;
    // One spelling per value: the canonical text parses back to itself.
    ASSERT_OK_AND_ASSIGN(Verification again, ParseVerification(ToString(v)));
    EXPECT_EQ(again, v);
    if (c.text != "replicate") {
      EXPECT_EQ(ToString(v), c.text);
    }
  }
  EXPECT_EQ(ToString({Mode::kReplicate, 3}), "replicate(3)");
}

TEST(VerificationPolicyTest, RejectsBadStringsWithAFix) {
  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"", "verification '': empty; expected none, hash, replicate(k)"},
      {"replicate(0)", "replica count 0 is out of range 1..9"},
      {"replicate(10)", "replica count 10 is out of range 1..9"},
      {"replicate(100)", "replica count 100 is out of range 1..9"},
      {"replicate(x)", "must be a whole number from 1 to 9"},
      {"replicate(-1)", "must be a whole number from 1 to 9"},
      {"replicate(2.5)", "must be a whole number from 1 to 9"},
      {"replicate( 3)", "must be a whole number from 1 to 9"},
      {"replicate()", "no replica count"},
      {"replicate(3", "missing ')'"},
      {"replicate(", "missing ')'"},
      {"replicate(03)", "without leading zeros"},
      {"HASH", "modes are lower case; write 'hash'"},
      {"Replicate(3)", "modes are lower case; write 'replicate(3)'"},
      {"majority", "unknown mode; expected none, hash"},
      {" none", "unknown mode"},
      {"replicate3", "unknown mode"},
  };
  for (const Case& c : cases) {
    auto v = ParseVerification(c.text);
    ASSERT_FALSE(v.ok()) << "'" << c.text << "' parsed";
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(Has(v.status().message(), c.message))
        << "'" << c.text << "': " << v.status() << " should say " << c.message;
  }
}

TEST(VerificationPolicyTest, TheEscrowHoldsTheMostReplicasAModeMayRun) {
  AdaptivePolicy policy;
  EXPECT_EQ(EscrowReplicas({Mode::kNone, 1}, policy), 1);
  EXPECT_EQ(EscrowReplicas({Mode::kHash, 1}, policy), 1);
  EXPECT_EQ(EscrowReplicas({Mode::kReplicate, 5}, policy), 5);
  EXPECT_EQ(EscrowReplicas({Mode::kAdaptive, 1}, policy), 3);  // high_value_replicas
  policy.suspect_replicas = 4;
  EXPECT_EQ(EscrowReplicas({Mode::kAdaptive, 1}, policy), 4);
}

TEST(AdaptivePolicyTest, DefaultsAreValid) { EXPECT_OK(ValidateAdaptivePolicy({})); }

TEST(AdaptivePolicyTest, ValidationNamesTheProblem) {
  AdaptivePolicy p;
  p.suspect_reputation = 0.95;
  EXPECT_TRUE(Has(ValidateAdaptivePolicy(p).message(), "suspect_reputation (0.95)"));
  p = {};
  p.low_value = 10;
  p.high_value = 5;
  EXPECT_FALSE(ValidateAdaptivePolicy(p).ok());
  p = {};
  p.unknown_replicas = 4;
  EXPECT_FALSE(ValidateAdaptivePolicy(p).ok());
  p = {};
  p.high_value_replicas = 10;
  EXPECT_FALSE(ValidateAdaptivePolicy(p).ok());
  p = {};
  p.suspect_replicas = 1;
  EXPECT_TRUE(Has(ValidateAdaptivePolicy(p).message(), "unknown_replicas (2) <= suspect_replicas"));
  p = {};
  p.spot_check_rate = 1.5;
  EXPECT_FALSE(ValidateAdaptivePolicy(p).ok());
}

TEST(AdaptivePolicyTest, Tiers) {
  const AdaptivePolicy p;
  // Trusted, low value: alone with a spot check.
  AdaptivePlan plan =
      PlanAdaptive({.executor_reputation = 0.97, .verified_results = 42, .job_value = 120});
  EXPECT_EQ(plan.replicas, 1);
  EXPECT_DOUBLE_EQ(plan.spot_check_rate, p.spot_check_rate);
  EXPECT_TRUE(Has(plan.reason, "trusted executor (reputation 0.97, 42 verified results)"))
      << plan.reason;
  EXPECT_TRUE(Has(plan.reason, "1 replica, spot check 10%")) << plan.reason;

  // Unknown: replicated until it has a record, even with a high reputation.
  plan = PlanAdaptive({.executor_reputation = 1.0, .verified_results = 3, .job_value = 120});
  EXPECT_EQ(plan.replicas, 2);
  EXPECT_EQ(plan.spot_check_rate, 0);
  EXPECT_TRUE(Has(plan.reason, "new executor")) << plan.reason;

  // Suspect: every job replicated.
  plan = PlanAdaptive({.executor_reputation = 0.2, .verified_results = 500, .job_value = 1});
  EXPECT_EQ(plan.replicas, 2);
  EXPECT_TRUE(Has(plan.reason, "suspect executor")) << plan.reason;

  // High value: full replication whoever runs it.
  plan = PlanAdaptive(
      {.executor_reputation = 1.0, .verified_results = 10'000, .job_value = 1'000'000});
  EXPECT_EQ(plan.replicas, 3);
  EXPECT_TRUE(Has(plan.reason, "high_value")) << plan.reason;

  // Medium value on a trusted executor: 2.
  plan = PlanAdaptive({.executor_reputation = 1.0, .verified_results = 100, .job_value = 5'000});
  EXPECT_EQ(plan.replicas, 2);
  EXPECT_TRUE(Has(plan.reason, "above low_value")) << plan.reason;

  // Garbage reputations count as the worst case.
  const AdaptivePlan nan =
      PlanAdaptive({.executor_reputation = std::nan(""), .verified_results = 100});
  EXPECT_TRUE(Has(nan.reason, "suspect")) << nan.reason;
  EXPECT_TRUE(
      Has(PlanAdaptive({.executor_reputation = -4, .verified_results = 100}).reason, "suspect"));
  EXPECT_EQ(PlanAdaptive({.executor_reputation = 7, .verified_results = 100}).replicas, 1);
}

TEST(AdaptivePolicyTest, Monotone) {
  AdaptivePolicy strict;  // a variant with more replicas for suspects than for high value
  strict.suspect_replicas = 4;
  strict.high_value_replicas = 3;
  strict.spot_check_rate = 0.3;
  for (const AdaptivePolicy& policy : {AdaptivePolicy{}, strict}) {
    ASSERT_OK(ValidateAdaptivePolicy(policy));
    const std::vector<double> reps = {0, 0.1, 0.3, 0.49, 0.5, 0.7, 0.89, 0.9, 0.95, 1};
    const std::vector<uint64_t> records = {0, 1, 9, 10, 11, 100, 100'000};
    const std::vector<int64_t> values = {0, 1, 999, 1'000, 1'001, 50'000, 99'999, 100'000, 1 << 30};
    auto cost = [](const AdaptivePlan& plan) { return plan.replicas + plan.spot_check_rate; };
    for (double rep : reps) {
      for (uint64_t record : records) {
        for (size_t v = 0; v < values.size(); ++v) {
          const AdaptivePlan plan = PlanAdaptive(
              {.executor_reputation = rep, .verified_results = record, .job_value = values[v]},
              policy);
          EXPECT_GE(plan.replicas, 1);
          EXPECT_LE(plan.replicas, kMaxReplicas);
          // Higher value never means fewer replicas.
          if (v + 1 < values.size()) {
            const AdaptivePlan more = PlanAdaptive({.executor_reputation = rep,
                                                    .verified_results = record,
                                                    .job_value = values[v + 1]},
                                                   policy);
            EXPECT_GE(cost(more), cost(plan)) << rep << " " << record << " " << values[v];
          }
          // Lower reputation never means fewer replicas.
          for (double lower : reps) {
            if (lower >= rep) continue;
            const AdaptivePlan worse = PlanAdaptive(
                {.executor_reputation = lower, .verified_results = record, .job_value = values[v]},
                policy);
            EXPECT_GE(cost(worse), cost(plan)) << lower << " vs " << rep;
          }
          // Fewer verified results never means fewer replicas.
          for (uint64_t fewer : records) {
            if (fewer >= record) continue;
            const AdaptivePlan newer = PlanAdaptive(
                {.executor_reputation = rep, .verified_results = fewer, .job_value = values[v]},
                policy);
            EXPECT_GE(cost(newer), cost(plan)) << fewer << " vs " << record;
          }
        }
      }
    }
  }
}

TEST(AdaptivePolicyTest, SpotCheckUsesTheInjectedDraw) {
  const AdaptivePlan alone =
      PlanAdaptive({.executor_reputation = 1, .verified_results = 100, .job_value = 1});
  ASSERT_EQ(alone.replicas, 1);
  EXPECT_TRUE(ShouldSpotCheck(alone, 0.0));
  EXPECT_TRUE(ShouldSpotCheck(alone, 0.099));
  EXPECT_FALSE(ShouldSpotCheck(alone, 0.1));
  EXPECT_FALSE(ShouldSpotCheck(alone, 0.999));
  const AdaptivePlan replicated = PlanAdaptive({.executor_reputation = 0});
  EXPECT_FALSE(ShouldSpotCheck(replicated, 0.0));  // already replicated
  AdaptivePolicy never;
  never.spot_check_rate = 0;
  EXPECT_FALSE(ShouldSpotCheck(
      PlanAdaptive({.executor_reputation = 1, .verified_results = 100, .job_value = 1}, never),
      0.0));
}

}  // namespace
}  // namespace mesh::verify
