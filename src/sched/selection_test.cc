#include "mesh/sched/selection.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <numeric>

#include "absl/strings/str_format.h"
#include "mesh/common/testing.h"
#include "sched_test_util.h"

namespace mesh::sched {
namespace {

using nlohmann::json;
using testing::Did;
using testing::Has;
using testing::kNow;
using testing::MakeAnnounce;
using testing::MakeBid;

TEST(SelectionTest, FilterNamesEveryReasonWithNumbers) {
  struct Case {
    std::function<void(job::Announce&, BidView&)> change;
    std::string code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](auto& a, auto& b) { b.bid.job_id = "bafkreiother"; }, "wrong_job", "not job bafkreijob"},
      {[](auto& a, auto& b) { b.bid.round = 0; }, "wrong_job", "round 0, not job"},
      {[](auto& a, auto& b) { a.exclude = {Did('a')}; }, "excluded", "earlier round"},
      {[](auto& a, auto& b) { b.bid.valid_until_ms = absl::ToUnixMillis(kNow) - 1500; }, "expired",
       "bid expired 1500 ms ago"},
      {[](auto& a, auto& b) { a.requirements.max_price = 100; }, "price",
       "price 120 exceeds max_price 100"},
      {[](auto& a, auto& b) { a.requirements.min_reputation = 0.9; }, "reputation",
       "reputation 0.80 is below min_reputation 0.90"},
      {[](auto& a, auto& b) {
         a.requirements.min_reputation = 0.6;
         b.reputation.reset();
       },
       "reputation", "reputation 0.50 (no history) is below min_reputation 0.60"},
      {[](auto& a, auto& b) { a.requirements.cpu_cores = 8; }, "cpu",
       "4 cpu cores offered, 8 required"},
      {[](auto& a, auto& b) { b.bid.memory_bytes = 128 << 20; }, "memory",
       "memory 128 MiB offered, 256 MiB required"},
      {[](auto& a, auto& b) { a.requirements.memory_bytes = 3ull << 29; }, "memory",
       "memory 1 GiB offered, 1.5 GiB required"},
      {[](auto& a, auto& b) { a.requirements.storage_bytes = 20ull << 30; }, "storage",
       "storage 10 GiB offered, 20 GiB required"},
      {[](auto& a, auto& b) {
         a.requirements.capabilities = {"gpu", "fpga"};
       },
       "capability", "capability 'fpga' is required but not offered"},
      {[](auto& a, auto& b) {
         a.requirements.federations = {"eu", "us"};
       },
       "federation", "none of the required federations (eu, us)"},
      {[](auto& a, auto& b) {
         a.requirements.trust_scope = "known";
         b.known_peer = false;
       },
       "trust_scope", "not in the peer table"},
      {[](auto& a, auto& b) { a.requirements.trust_scope = "federation"; }, "trust_scope",
       "names no federation"},
  };
  for (const Case& c : cases) {
    job::Announce announce = MakeAnnounce();
    BidView bid = MakeBid(Did('a'), 120);
    ASSERT_FALSE(FilterBid(announce, bid, kNow).has_value());
    c.change(announce, bid);
    std::optional<Rejection> rejection = FilterBid(announce, bid, kNow);
    ASSERT_TRUE(rejection.has_value()) << c.code;
    EXPECT_EQ(rejection->code, c.code);
    EXPECT_EQ(rejection->executor, Did('a'));
    EXPECT_TRUE(Has(rejection->message, c.message)) << rejection->message;
  }
}

TEST(SelectionTest, FilterPassesWhatTheRequirementsAllow) {
  job::Announce announce = MakeAnnounce();
  announce.requirements.max_price = 120;
  announce.requirements.cpu_cores = 4;
  announce.requirements.capabilities = {"avx2"};
  announce.requirements.federations = {"eu", "lab"};
  announce.requirements.trust_scope = "federation";
  BidView bid = MakeBid(Did('a'), 120);
  bid.bid.valid_until_ms = absl::ToUnixMillis(kNow);  // valid until this very moment
  EXPECT_FALSE(FilterBid(announce, bid, kNow).has_value());
  announce.requirements.trust_scope = "known";
  EXPECT_FALSE(FilterBid(announce, bid, kNow).has_value());

  // No history counts as the policy's default reputation.
  announce.requirements.min_reputation = 0.6;
  bid.reputation.reset();
  EXPECT_TRUE(FilterBid(announce, bid, kNow).has_value());
  SelectionPolicy trusting;
  trusting.default_reputation = 0.7;
  EXPECT_FALSE(FilterBid(announce, bid, kNow, trusting).has_value());
}

TEST(SelectionTest, CheapestEqualBidWinsAndLosersSayWhy) {
  const job::Announce announce = MakeAnnounce();
  const std::vector<BidView> bids = {MakeBid(Did('b'), 130), MakeBid(Did('a'), 100),
                                     MakeBid(Did('c'), 500)};
  const Selection s = Select(announce, bids, SelectionPolicy(), kNow);
  ASSERT_TRUE(s.has_winner());
  ASSERT_EQ(s.ranked.size(), 3u);
  EXPECT_EQ(s.ranked[0].executor, Did('a'));
  EXPECT_EQ(s.ranked[0].price_score, 1.0);
  EXPECT_NEAR(s.ranked[1].price_score, 100.0 / 130, 1e-12);
  EXPECT_EQ(s.ranked[0].reason,
            "selected: best score " + absl::StrFormat("%.2f", s.ranked[0].score));
  EXPECT_FALSE(s.ranked[1].won);
  EXPECT_EQ(s.ranked[1].reason, absl::StrFormat("lost: score %.2f < %.2f (price 130 vs 100)",
                                                s.ranked[1].score, s.ranked[0].score));
  EXPECT_TRUE(Has(s.ranked[2].reason, "(price 500 vs 100)")) << s.ranked[2].reason;
  for (const ScoredBid& b : s.ranked) {
    for (double score :
         {b.score, b.price_score, b.reputation_score, b.resources_score, b.latency_score}) {
      EXPECT_GE(score, 0.0);
      EXPECT_LE(score, 1.0);
    }
  }
  EXPECT_EQ(s.ranked[0].latency_score, 20.0 / 30);
  EXPECT_EQ(s.ranked[0].reputation_score, 0.8);
  EXPECT_EQ(s.ranked[0].resources_score, 1.0);
}

TEST(SelectionTest, LosersNameTheComponentThatCostThem) {
  const job::Announce announce = MakeAnnounce();
  BidView reputable = MakeBid(Did('a'), 100);
  reputable.reputation = 0.95;
  BidView unknown = MakeBid(Did('b'), 100);
  unknown.reputation.reset();
  BidView busy = MakeBid(Did('c'), 100);
  busy.reputation = 0.95;
  busy.bid.load = 0.9;
  BidView far = MakeBid(Did('d'), 100);
  far.reputation = 0.95;
  far.rtt = absl::Milliseconds(180);
  const Selection s = Select(announce, {unknown, busy, far, reputable}, SelectionPolicy(), kNow);
  ASSERT_EQ(s.ranked.size(), 4u);
  EXPECT_EQ(s.ranked[0].executor, Did('a'));
  std::map<std::string, std::string> reasons;
  for (const ScoredBid& b : s.ranked) reasons[b.executor] = b.reason;
  EXPECT_TRUE(Has(reasons[Did('b')], "(reputation 0.50 vs 0.95)")) << reasons[Did('b')];
  EXPECT_TRUE(Has(reasons[Did('c')], "load 0.90 vs 0.00)")) << reasons[Did('c')];
  EXPECT_TRUE(Has(reasons[Did('d')], "(latency 180 ms vs 10 ms)")) << reasons[Did('d')];
}

// Auctions that close together all receive bids made against an idle executor; what the
// submitter assigned since must count, or one executor would win every one of them.
TEST(SelectionTest, JobsAlreadyAssignedToAnExecutorCountAsItsLoad) {
  const job::Announce announce = MakeAnnounce();
  BidView near = MakeBid(Did('a'), 100);
  near.rtt = absl::Milliseconds(1);
  BidView other = MakeBid(Did('b'), 100);
  other.rtt = absl::Milliseconds(2);
  EXPECT_EQ(Select(announce, {near, other}, SelectionPolicy(), kNow).ranked[0].executor, Did('a'));

  near.assigned_load = 1;  // one job of ours on its single slot, the bid said 0
  Selection s = Select(announce, {near, other}, SelectionPolicy(), kNow);
  EXPECT_EQ(s.ranked[0].executor, Did('b'));
  EXPECT_TRUE(Has(s.ranked[1].reason, "load 1.00 vs 0.00")) << s.ranked[1].reason;
  EXPECT_EQ(s.ranked[1].load, 1.0);

  // Past one job per slot the load keeps counting: two queued lose to one.
  other.assigned_load = 1;
  near.assigned_load = 2;
  s = Select(announce, {near, other}, SelectionPolicy(), kNow);
  EXPECT_EQ(s.ranked[0].executor, Did('b'));
  EXPECT_LT(s.ranked[1].resources_score, s.ranked[0].resources_score);

  // The bid's own load wins when it is higher (it already counts our jobs, and others').
  near.assigned_load = 0.5;
  near.bid.load = 0.75;
  EXPECT_EQ(EffectiveLoad(near), 0.75);
  near.assigned_load = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(EffectiveLoad(near), 1.0);
}

TEST(SelectionTest, TiesBreakTheSameWayWhateverTheOrder) {
  const job::Announce announce = MakeAnnounce();
  SelectionPolicy policy;
  policy.price_weight = 0;  // every score equal: only the tie-break orders them
  std::vector<BidView> bids = {MakeBid(Did('d'), 90), MakeBid(Did('c'), 90), MakeBid(Did('b'), 90),
                               MakeBid(Did('a'), 100)};
  bids[1].bid.expected_start_ms += 50;  // c starts later than b and d
  std::vector<size_t> order(bids.size());
  std::iota(order.begin(), order.end(), 0);
  std::vector<std::string> first;
  do {
    std::vector<BidView> shuffled;
    for (size_t i : order) shuffled.push_back(bids[i]);
    const Selection s = Select(announce, shuffled, policy, kNow);
    std::vector<std::string> ranking;
    for (const ScoredBid& b : s.ranked) ranking.push_back(b.executor);
    if (first.empty()) first = ranking;
    EXPECT_EQ(ranking, first);
  } while (std::next_permutation(order.begin(), order.end()));
  // Lower price, then earlier start, then DID order.
  EXPECT_EQ(first, (std::vector<std::string>{Did('b'), Did('d'), Did('c'), Did('a')}));
  const Selection s = Select(announce, bids, policy, kNow);
  EXPECT_TRUE(Has(s.ranked[1].reason, "tie broken by executor DID order")) << s.ranked[1].reason;
  EXPECT_TRUE(Has(s.ranked[2].reason, "tie broken by earlier expected start"))
      << s.ranked[2].reason;
  EXPECT_TRUE(Has(s.ranked[3].reason, "tie broken by lower price (90 vs 100)"))
      << s.ranked[3].reason;
}

TEST(SelectionTest, WeightsChangeTheWinner) {
  const job::Announce announce = MakeAnnounce();
  BidView cheap = MakeBid(Did('a'), 100);
  cheap.reputation = 0.3;
  BidView trusted = MakeBid(Did('b'), 200);
  trusted.reputation = 0.95;
  SelectionPolicy by_price{1, 0, 0, 0};
  SelectionPolicy by_reputation{0, 1, 0, 0};
  EXPECT_EQ(Select(announce, {cheap, trusted}, by_price, kNow).ranked[0].executor, Did('a'));
  EXPECT_EQ(Select(announce, {cheap, trusted}, by_reputation, kNow).ranked[0].executor, Did('b'));
  const Selection s = Select(announce, {cheap, trusted}, by_reputation, kNow);
  EXPECT_EQ(s.ranked[0].score, 0.95);
  EXPECT_EQ(s.ranked[1].reason, "lost: score 0.30 < 0.95 (reputation 0.30 vs 0.95)");
}

TEST(SelectionTest, SeveralWinnersAreDistinctExecutors) {
  const job::Announce announce = MakeAnnounce();
  BidView a1 = MakeBid(Did('a'), 100);
  BidView a2 = MakeBid(Did('a'), 101);
  a2.bid_cid = "bafkreibid-a2";
  BidView b = MakeBid(Did('b'), 150);
  BidView c = MakeBid(Did('c'), 300);
  const Selection s = Select(announce, {c, a2, b, a1}, SelectionPolicy(), kNow, 2);
  ASSERT_EQ(s.ranked.size(), 4u);
  EXPECT_EQ(s.ranked[0].bid_cid, a1.bid_cid);
  EXPECT_TRUE(s.ranked[0].won);
  EXPECT_EQ(s.ranked[1].bid_cid, "bafkreibid-a2");
  EXPECT_FALSE(s.ranked[1].won);
  EXPECT_TRUE(Has(s.ranked[1].reason, "already selected")) << s.ranked[1].reason;
  EXPECT_EQ(s.ranked[2].executor, Did('b'));
  EXPECT_TRUE(s.ranked[2].won);
  EXPECT_TRUE(Has(s.ranked[2].reason, "selected: rank 2")) << s.ranked[2].reason;
  EXPECT_FALSE(s.ranked[3].won);
  EXPECT_TRUE(Has(s.ranked[3].reason, "(price 300 vs 150)")) << s.ranked[3].reason;
  EXPECT_TRUE(Has(s.summary, ", winners did:key:z6Mk…aaaa score ")) << s.summary;
}

TEST(SelectionTest, SummaryCountsFilteredBidsByReason) {
  job::Announce announce = MakeAnnounce();
  announce.requirements.max_price = 200;
  BidView small = MakeBid(Did('d'), 100);
  small.bid.memory_bytes = 1 << 20;
  const std::vector<BidView> bids = {MakeBid(Did('a'), 100), MakeBid(Did('b'), 300),
                                     MakeBid(Did('c'), 250), small};
  const Selection s = Select(announce, bids, SelectionPolicy(), kNow);
  ASSERT_EQ(s.rejected.size(), 3u);
  EXPECT_EQ(s.rejected[0].executor, Did('b'));  // in the order given
  EXPECT_EQ(s.summary,
            absl::StrFormat("4 bids, 3 filtered (price x2, memory), winner did:key:z6Mk…aaaa "
                            "score %.2f price 100",
                            s.ranked[0].score));

  const json j = ToJson(s);
  EXPECT_EQ(j["summary"], s.summary);
  EXPECT_EQ(j["has_winner"], true);
  EXPECT_EQ(j["ranked"][0]["executor"], Did('a'));
  EXPECT_EQ(j["ranked"][0]["won"], true);
  EXPECT_EQ(j["rejected"][1]["code"], "price");

  const Selection none = Select(announce, {MakeBid(Did('b'), 300)}, SelectionPolicy(), kNow);
  EXPECT_FALSE(none.has_winner());
  EXPECT_EQ(none.summary, "1 bid, 1 filtered (price), no winner");
  EXPECT_EQ(Select(announce, {}, SelectionPolicy(), kNow).summary, "0 bids, no winner");
}

TEST(SelectionPolicyTest, JsonRoundTripsAndRejectsBadValues) {
  SelectionPolicy policy{0.5, 0.25, 0.125, 0.125, 0.3, 0.4, absl::Milliseconds(35)};
  ASSERT_OK_AND_ASSIGN(SelectionPolicy back, SelectionPolicyFromJson(ToJson(policy)));
  EXPECT_EQ(ToJson(back), ToJson(policy));
  EXPECT_EQ(back.latency_half, absl::Milliseconds(35));
  ASSERT_OK_AND_ASSIGN(SelectionPolicy defaults, SelectionPolicyFromJson(json::object()));
  EXPECT_EQ(ToJson(defaults), ToJson(SelectionPolicy()));

  const std::vector<std::pair<json, std::string>> cases = {
      {json::array(), "selection policy must be an object"},
      {{{"colour", 1}}, "/colour: unknown field"},
      {{{"price_weight", -1}}, "/price_weight: must be a number between 0"},
      {{{"latency_weight", true}}, "/latency_weight: must be a number"},
      {{{"reputation_weight", "0.3"}}, "/reputation_weight: must be a number"},
      {{{"price_weight", 0},
        {"reputation_weight", 0},
        {"resources_weight", 0},
        {"latency_weight", 0}},
       "are all 0"},
      {{{"default_reputation", 1.5}}, "/default_reputation: must be a number between 0 and 1"},
      {{{"latency_half_ms", 0}}, "/latency_half_ms: must be a number between"},
  };
  for (const auto& [body, expected] : cases) {
    absl::StatusOr<SelectionPolicy> p = SelectionPolicyFromJson(body);
    ASSERT_FALSE(p.ok()) << body.dump();
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(Has(std::string(p.status().message()), expected)) << p.status();
  }
}

}  // namespace
}  // namespace mesh::sched
