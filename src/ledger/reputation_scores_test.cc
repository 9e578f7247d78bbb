// The reputation model alone: ReputationScores with explicit times, no clock and no file.
#include "mesh/ledger/reputation_scores.h"

#include <gtest/gtest.h>

namespace mesh::ledger {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

TEST(ReputationScoresTest, RecordDecidesThenSetsAndDecaysWithExplicitTimes) {
  ReputationOptions options;
  options.half_life = absl::Hours(10);
  ReputationScores scores(options);
  EXPECT_TRUE(scores.Get("did:test:a", kT0).is_new());
  EXPECT_DOUBLE_EQ(scores.Get("did:test:a", kT0).score, 0.5);
  const ReputationState next = scores.After("did:test:a", ReputationEvent::kOutvoted, kT0);
  EXPECT_DOUBLE_EQ(next.bad, 4.0);
  EXPECT_TRUE(scores.Get("did:test:a", kT0).is_new());  // deciding changes nothing
  scores.Set("did:test:a", next);
  const Reputation low = scores.Get("did:test:a", kT0);
  EXPECT_DOUBLE_EQ(low.score, 1.0 / 6.0);  // (0.5 × 2 + 0) / (2 + 0 + 4)
  const Reputation later = scores.Get("did:test:a", kT0 + absl::Hours(10));
  EXPECT_DOUBLE_EQ(later.evidence, 2.0);  // halved after one half-life
  EXPECT_EQ(later.outvoted, 1);           // counts never decay
  const Reputation up = scores.Record("did:test:a", ReputationEvent::kSuccess, kT0);
  EXPECT_EQ(up.successes, 1);
  EXPECT_EQ(scores.All(kT0).size(), 1u);
  EXPECT_EQ(scores.Scores(kT0).size(), 1u);
}

}  // namespace
}  // namespace mesh::ledger
