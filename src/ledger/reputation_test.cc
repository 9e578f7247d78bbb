#include "mesh/ledger/reputation.h"

#include <gtest/gtest.h>

#include "ledger_test_util.h"
#include "mesh/common/testing.h"
#include "mesh/ledger/ledger_json.h"

namespace mesh::ledger {
namespace {

using testing::Did;

TEST(ReputationTest, NewDidStartsAtThePriorWithNoTrackRecord) {
  FakeClock clock;
  ReputationBook book(clock);
  Reputation r = book.Get(Did(1));
  EXPECT_DOUBLE_EQ(r.score, 0.5);
  EXPECT_TRUE(r.is_new());
  EXPECT_EQ(r.evidence, 0);
  EXPECT_TRUE(book.Scores().empty());
  EXPECT_FALSE(IsTrusted(r));
}

TEST(ReputationTest, EventsMoveTheScoreAndOutvotedHitsHardest) {
  FakeClock clock;
  ReputationBook book(clock);
  ASSERT_OK_AND_ASSIGN(Reputation up, book.Record(Did(1), ReputationEvent::kSuccess));
  EXPECT_GT(up.score, 0.5);
  EXPECT_EQ(up.successes, 1);
  EXPECT_FALSE(up.is_new());
  ASSERT_OK_AND_ASSIGN(Reputation failed, book.Record(Did(2), ReputationEvent::kFailure));
  ASSERT_OK_AND_ASSIGN(Reputation timed_out, book.Record(Did(3), ReputationEvent::kTimeout));
  ASSERT_OK_AND_ASSIGN(Reputation outvoted, book.Record(Did(4), ReputationEvent::kOutvoted));
  EXPECT_LT(failed.score, 0.5);
  EXPECT_LT(timed_out.score, 0.5);
  EXPECT_LT(outvoted.score, failed.score);
  EXPECT_EQ(outvoted.outvoted, 1);
  for (int i = 0; i < 40; ++i) ASSERT_OK(book.Record(Did(1), ReputationEvent::kSuccess).status());
  Reputation trusted = book.Get(Did(1));
  EXPECT_GT(trusted.score, 0.9);
  EXPECT_LE(trusted.score, 1.0);
  EXPECT_TRUE(IsTrusted(trusted));
  // One outvoted result costs a trusted executor more than one failure would.
  FakeClock clock2;
  ReputationBook a(clock2), b(clock2);
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK(a.Record(Did(1), ReputationEvent::kSuccess).status());
    ASSERT_OK(b.Record(Did(1), ReputationEvent::kSuccess).status());
  }
  ASSERT_OK(a.Record(Did(1), ReputationEvent::kFailure).status());
  ASSERT_OK(b.Record(Did(1), ReputationEvent::kOutvoted).status());
  EXPECT_LT(b.Get(Did(1)).score, a.Get(Did(1)).score);
  auto scores = book.Scores();
  EXPECT_EQ(scores.size(), 4u);
  EXPECT_DOUBLE_EQ(scores[Did(1)], trusted.score);
}

TEST(ReputationTest, DecaysTowardThePriorWithTheHalfLife) {
  FakeClock clock;
  ReputationOptions options;
  options.half_life = absl::Hours(10);
  ReputationBook book(clock, options);
  for (int i = 0; i < 20; ++i) ASSERT_OK(book.Record(Did(1), ReputationEvent::kOutvoted).status());
  const Reputation low = book.Get(Did(1));
  EXPECT_LT(low.score, 0.05);
  clock.Advance(absl::Hours(10));
  const Reputation later = book.Get(Did(1));
  EXPECT_NEAR(later.evidence, low.evidence / 2, 1e-9);
  EXPECT_GT(later.score, low.score);
  clock.Advance(absl::Hours(1000));
  const Reputation forgotten = book.Get(Did(1));
  EXPECT_NEAR(forgotten.score, 0.5, 1e-6);
  EXPECT_EQ(forgotten.outvoted, 20);  // counts never decay: not "new" again
  EXPECT_FALSE(forgotten.is_new());
}

TEST(ReputationTest, PersistsAcrossReopen) {
  ScopedTempDir dir;
  FakeClock clock;
  {
    ASSERT_OK_AND_ASSIGN(auto book, ReputationBook::Open(dir.path() / "rep.db", clock));
    ASSERT_OK(book->Record(Did(1), ReputationEvent::kSuccess).status());
    ASSERT_OK(book->Record(Did(1), ReputationEvent::kTimeout).status());
    ASSERT_OK(book->Record(Did(2), ReputationEvent::kOutvoted).status());
  }
  ASSERT_OK_AND_ASSIGN(auto book, ReputationBook::Open(dir.path() / "rep.db", clock));
  Reputation r = book->Get(Did(1));
  EXPECT_EQ(r.successes, 1);
  EXPECT_EQ(r.timeouts, 1);
  EXPECT_NEAR(r.score, 0.5, 1e-12);  // one up, one down
  EXPECT_EQ(book->All().size(), 2u);
  EXPECT_EQ(ToJson(book->Get(Did(2)))["outvoted"], 1);
}

TEST(ReputationTest, PersistedBookMatchesThePureScoresAtTheSameTimes) {
  // The book over SQLite and the scores alone, fed the same events at the same times, agree.
  ScopedTempDir dir;
  FakeClock clock;
  ReputationScores scores;
  {
    ASSERT_OK_AND_ASSIGN(auto book, ReputationBook::Open(dir.path() / "rep.db", clock));
    for (ReputationEvent e : {ReputationEvent::kSuccess, ReputationEvent::kOutvoted,
                              ReputationEvent::kSuccess, ReputationEvent::kTimeout}) {
      clock.Advance(absl::Hours(3));
      ASSERT_OK_AND_ASSIGN(Reputation r, book->Record(Did(1), e));
      const Reputation pure = scores.Record(Did(1), e, clock.Now());
      EXPECT_DOUBLE_EQ(r.score, pure.score);
    }
  }
  ASSERT_OK_AND_ASSIGN(auto book, ReputationBook::Open(dir.path() / "rep.db", clock));
  clock.Advance(absl::Hours(50));
  EXPECT_DOUBLE_EQ(book->Get(Did(1)).score, scores.Get(Did(1), clock.Now()).score);
  EXPECT_EQ(book->Get(Did(1)).events(), 4);
  // Deciding (After) changes nothing until Set.
  const ReputationState next = scores.After(Did(2), ReputationEvent::kFailure, clock.Now());
  EXPECT_EQ(next.counts[1], 1);
  EXPECT_TRUE(scores.Get(Did(2), clock.Now()).is_new());
  scores.Set(Did(2), next);
  EXPECT_EQ(scores.Get(Did(2), clock.Now()).failures, 1);
  EXPECT_EQ(book->Record("", ReputationEvent::kSuccess).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// RecordAll is Record for each event, in order, written at once: the same scores as one by
// one, on disk too; an empty DID refuses the batch and changes nothing.
TEST(ReputationTest, RecordAllMatchesRecordOneByOne) {
  ScopedTempDir dir;
  FakeClock clock;
  const std::vector<std::pair<std::string, ReputationEvent>> events = {
      {Did(1), ReputationEvent::kSuccess},
      {Did(2), ReputationEvent::kOutvoted},
      {Did(1), ReputationEvent::kTimeout},
      {Did(1), ReputationEvent::kSuccess},
  };
  ReputationBook one_by_one(clock);
  for (const auto& [did, e] : events) ASSERT_OK(one_by_one.Record(did, e).status());
  {
    ASSERT_OK_AND_ASSIGN(auto book, ReputationBook::Open(dir.path() / "rep.db", clock));
    ASSERT_OK(book->RecordAll(events));
    EXPECT_DOUBLE_EQ(book->Get(Did(1)).score, one_by_one.Get(Did(1)).score);
    EXPECT_EQ(book->Get(Did(1)).successes, 2);
    EXPECT_EQ(book->Get(Did(1)).timeouts, 1);
    const std::vector<std::pair<std::string, ReputationEvent>> bad = {
        {Did(3), ReputationEvent::kSuccess}, {"", ReputationEvent::kSuccess}};
    EXPECT_EQ(book->RecordAll(bad).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(book->Get(Did(3)).is_new());
  }
  ASSERT_OK_AND_ASSIGN(auto book, ReputationBook::Open(dir.path() / "rep.db", clock));
  EXPECT_DOUBLE_EQ(book->Get(Did(1)).score, one_by_one.Get(Did(1)).score);
  EXPECT_DOUBLE_EQ(book->Get(Did(2)).score, one_by_one.Get(Did(2)).score);
  EXPECT_EQ(book->All().size(), 2u);
}

TEST(ReputationTest, OptionsAreValidated) {
  FakeClock clock;
  ScopedTempDir dir;
  ReputationOptions bad;
  bad.prior = 1.5;
  EXPECT_EQ(ReputationBook::Open(dir.path() / "r.db", clock, bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = {};
  bad.half_life = absl::ZeroDuration();
  EXPECT_FALSE(Validate(bad).ok());
  bad = {};
  bad.outvoted_weight = -1;
  EXPECT_FALSE(Validate(bad).ok());
}

TEST(ReputationTest, SubmitFeeIsPricedByReputation) {
  Reputation r;
  r.score = 0.5;
  EXPECT_EQ(SubmitFee(10, r), 10);
  r.score = 1.0;
  EXPECT_EQ(SubmitFee(10, r), 5);
  r.score = 0.0;
  EXPECT_EQ(SubmitFee(10, r), 15);
  EXPECT_EQ(SubmitFee(0, r), 0);
}

}  // namespace
}  // namespace mesh::ledger
