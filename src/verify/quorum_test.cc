#include "mesh/verify/quorum.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "mesh/common/testing.h"

namespace mesh::verify {
namespace {

constexpr uint64_t kFuel = 1'000'000;

Vote V(std::string executor, std::string output, uint64_t fuel = kFuel) {
  return Vote{std::move(executor), std::move(output), fuel};
}

QuorumDecision Decide(const std::vector<Vote>& votes, int replicas, int max_replicas = 9) {
  auto d = DecideQuorum(votes, {.replicas = replicas, .max_replicas = max_replicas});
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? *d : QuorumDecision{};
}

bool Has(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

TEST(QuorumTest, ThreeAgree) {
  const auto d = Decide({V("did:c", "bafyA"), V("did:a", "bafyA"), V("did:b", "bafyA")}, 3);
  EXPECT_EQ(d.outcome, QuorumOutcome::kAgreed);
  EXPECT_EQ(d.output, "bafyA");
  EXPECT_EQ(d.fuel, kFuel);
  EXPECT_EQ(d.agreeing, (std::vector<std::string>{"did:a", "did:b", "did:c"}));
  EXPECT_TRUE(d.outvoted.empty());
  EXPECT_TRUE(d.fuel_mismatch.empty());
  EXPECT_TRUE(Has(d.reason, "agreed by 3 of 3")) << d.reason;
}

TEST(QuorumTest, TwoOfThreeDecideBeforeTheThirdVote) {
  const auto d = Decide({V("did:a", "bafyA"), V("did:b", "bafyA")}, 3);
  EXPECT_EQ(d.outcome, QuorumOutcome::kAgreed);
  EXPECT_EQ(d.output, "bafyA");
}

TEST(QuorumTest, TwoToOneOutvotesTheMinority) {
  const auto d = Decide({V("did:z", "bafyBad"), V("did:a", "bafyA"), V("did:b", "bafyA")}, 3);
  EXPECT_EQ(d.outcome, QuorumOutcome::kAgreed);
  EXPECT_EQ(d.output, "bafyA");
  EXPECT_EQ(d.agreeing, (std::vector<std::string>{"did:a", "did:b"}));
  ASSERT_EQ(d.outvoted.size(), 1u);
  EXPECT_EQ(d.outvoted[0].executor, "did:z");
  EXPECT_EQ(d.outvoted[0].output, "bafyBad");
  EXPECT_EQ(d.outvoted[0].reason, "output bafyBad outvoted 2 to 1 by bafyA");
}

TEST(QuorumTest, Pending) {
  auto d = Decide({}, 3);
  EXPECT_EQ(d.outcome, QuorumOutcome::kPending);
  EXPECT_EQ(d.more_votes_needed, 2);
  EXPECT_TRUE(Has(d.reason, "2 of 3 replicas must agree")) << d.reason;

  d = Decide({V("did:a", "bafyA")}, 3);
  EXPECT_EQ(d.outcome, QuorumOutcome::kPending);
  EXPECT_EQ(d.more_votes_needed, 1);

  // 1-1 with one vote outstanding: the third decides.
  d = Decide({V("did:a", "bafyA"), V("did:b", "bafyB")}, 3);
  EXPECT_EQ(d.outcome, QuorumOutcome::kPending);
  EXPECT_EQ(d.more_votes_needed, 1);
  EXPECT_TRUE(Has(d.reason, "2 of 3 votes in (bafyA 1, bafyB 1)")) << d.reason;

  d = Decide({V("did:a", "bafyA"), V("did:b", "bafyA")}, 5);
  EXPECT_EQ(d.outcome, QuorumOutcome::kPending);
  EXPECT_EQ(d.more_votes_needed, 1);
}

TEST(QuorumTest, OneOneSplitNeedsOneMoreReplica) {
  const auto d = Decide({V("did:a", "bafyA"), V("did:b", "bafyB")}, 2);
  EXPECT_EQ(d.outcome, QuorumOutcome::kNeedMoreReplicas);
  EXPECT_EQ(d.replicas_to_add, 1);
  EXPECT_TRUE(Has(d.reason, "add 1 replica (3 in all, majority 2)")) << d.reason;
  // The added replica breaks the tie.
  const auto after = Decide({V("did:a", "bafyA"), V("did:b", "bafyB"), V("did:c", "bafyB")}, 2 + 1);
  EXPECT_EQ(after.outcome, QuorumOutcome::kAgreed);
  EXPECT_EQ(after.output, "bafyB");
  ASSERT_EQ(after.outvoted.size(), 1u);
  EXPECT_EQ(after.outvoted[0].executor, "did:a");
}

TEST(QuorumTest, AllDifferentAddsReplicasUpToTheLimit) {
  std::vector<Vote> votes = {V("did:a", "bafyA"), V("did:b", "bafyB"), V("did:c", "bafyC")};
  auto d = Decide(votes, 3, 9);
  EXPECT_EQ(d.outcome, QuorumOutcome::kNeedMoreReplicas);
  EXPECT_EQ(d.replicas_to_add, 2);  // 5 replicas: the leader plus 2 agreeing makes 3 of 5
  // The liars keep disagreeing: each round asks for more until the limit.
  for (char c = 'd'; c <= 'i'; ++c) {
    const std::string id(1, c);
    votes.push_back(V("did:" + id, "bafy" + id));
  }
  d = Decide(votes, 9, 9);
  EXPECT_EQ(d.outcome, QuorumOutcome::kUndecidable);
  EXPECT_TRUE(Has(d.reason, "above the limit of 9")) << d.reason;
  EXPECT_TRUE(Has(d.reason, "the job fails unverified")) << d.reason;

  d = Decide({V("did:a", "bafyA"), V("did:b", "bafyB"), V("did:c", "bafyC")}, 3, 4);
  EXPECT_EQ(d.outcome, QuorumOutcome::kUndecidable);
  EXPECT_EQ(d.replicas_to_add, 2);
  EXPECT_TRUE(Has(d.reason, "5 in all, above the limit of 4")) << d.reason;
}

TEST(QuorumTest, DuplicateVotesCountOnce) {
  // did:z votes three times for its output; only the first counts, so it cannot win alone.
  const auto d = Decide({V("did:z", "bafyBad"), V("did:z", "bafyBad"), V("did:a", "bafyA"),
                         V("did:z", "bafyA"), V("did:b", "bafyA")},
                        3);
  EXPECT_EQ(d.outcome, QuorumOutcome::kAgreed);
  EXPECT_EQ(d.output, "bafyA");
  EXPECT_EQ(d.votes_counted, 3);
  EXPECT_EQ(d.agreeing, (std::vector<std::string>{"did:a", "did:b"}));
  ASSERT_EQ(d.outvoted.size(), 1u);
  EXPECT_EQ(d.outvoted[0].executor, "did:z");
  ASSERT_EQ(d.duplicates.size(), 2u);
  EXPECT_EQ(d.duplicates[1].output, "bafyA");
  EXPECT_TRUE(Has(d.duplicates[0].reason, "its first vote counts"));

  const auto alone = Decide({V("did:z", "bafyBad"), V("did:z", "bafyBad")}, 3);
  EXPECT_EQ(alone.outcome, QuorumOutcome::kPending);
}

TEST(QuorumTest, FuelMismatchIsFlaggedButCounts) {
  const auto d =
      Decide({V("did:a", "bafyA", 100), V("did:b", "bafyA", 100), V("did:c", "bafyA", 900)}, 3);
  EXPECT_EQ(d.outcome, QuorumOutcome::kAgreed);
  EXPECT_EQ(d.fuel, 100u);
  EXPECT_EQ(d.agreeing.size(), 3u);
  ASSERT_EQ(d.fuel_mismatch.size(), 1u);
  EXPECT_EQ(d.fuel_mismatch[0].executor, "did:c");
  EXPECT_TRUE(Has(d.fuel_mismatch[0].reason, "reported fuel 900")) << d.fuel_mismatch[0].reason;
  EXPECT_TRUE(Has(d.fuel_mismatch[0].reason, "paid at 100")) << d.fuel_mismatch[0].reason;

  // A tie on fuel pays the lower claim.
  const auto tie = Decide({V("did:a", "bafyA", 500), V("did:b", "bafyA", 100)}, 2);
  EXPECT_EQ(tie.fuel, 100u);
  ASSERT_EQ(tie.fuel_mismatch.size(), 1u);
  EXPECT_EQ(tie.fuel_mismatch[0].executor, "did:a");
}

TEST(QuorumTest, MoreVotesThanReplicasNeedAMajorityOfAll) {
  // 4 votes against k = 3: 2 agreeing is no longer a majority.
  const auto d = Decide(
      {V("did:a", "bafyA"), V("did:b", "bafyA"), V("did:c", "bafyB"), V("did:d", "bafyB")}, 3);
  EXPECT_EQ(d.outcome, QuorumOutcome::kNeedMoreReplicas);
  EXPECT_EQ(d.replicas_to_add, 1);
}

TEST(QuorumTest, SingleReplica) {
  const auto d = Decide({V("did:a", "bafyA")}, 1);
  EXPECT_EQ(d.outcome, QuorumOutcome::kAgreed);
  EXPECT_EQ(d.agreeing, std::vector<std::string>{"did:a"});
}

TEST(QuorumTest, DeterministicWhateverTheVoteOrder) {
  std::vector<Vote> votes = {V("did:e", "bafyB"), V("did:a", "bafyA"), V("did:d", "bafyC"),
                             V("did:b", "bafyA"), V("did:c", "bafyA")};
  const auto first = Decide(votes, 5);
  std::reverse(votes.begin(), votes.end());
  const auto second = Decide(votes, 5);
  EXPECT_EQ(first.agreeing, second.agreeing);
  ASSERT_EQ(first.outvoted.size(), 2u);
  ASSERT_EQ(second.outvoted.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(first.outvoted[i].executor, second.outvoted[i].executor);
    EXPECT_EQ(first.outvoted[i].reason, second.outvoted[i].reason);
  }
  EXPECT_EQ(first.reason, second.reason);
  EXPECT_EQ(first.outvoted[0].reason, "output bafyC outvoted 3 to 1 by bafyA");
}

TEST(QuorumTest, RejectsBadInput) {
  EXPECT_EQ(DecideQuorum({}, {.replicas = 0}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecideQuorum({}, {.replicas = 5, .max_replicas = 3}).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto s = DecideQuorum({V("did:a", "")}, {.replicas = 3});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Has(std::string(s.status().message()), "vote 0 has no output"));
  EXPECT_FALSE(DecideQuorum({V("", "bafyA")}, {.replicas = 3}).ok());
}

TEST(QuorumTest, OutcomeNames) {
  EXPECT_EQ(QuorumOutcomeName(QuorumOutcome::kAgreed), "agreed");
  EXPECT_EQ(QuorumOutcomeName(QuorumOutcome::kNeedMoreReplicas), "need_more_replicas");
  EXPECT_EQ(QuorumOutcomeName(QuorumOutcome::kUndecidable), "undecidable");
}

}  // namespace
}  // namespace mesh::verify
