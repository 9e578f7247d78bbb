// Speed scores in the market: a bid names its expected finish from its node's speed, selection
// weighs it (and says so when it decided), and under load two executors of different speeds get
// work in proportion to their speed.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <vector>

#include "mesh/sched/bidding.h"
#include "mesh/sched/selection.h"
#include "sched_test_util.h"

namespace mesh::sched {
namespace {

using testing::Did;
using testing::Has;
using testing::kNow;
using testing::MakeAnnounce;
using testing::MakeBid;
using testing::MakeLocal;

TEST(SpeedTest, ABidNamesItsFinishFromTheSpeedScore) {
  job::Announce announce = MakeAnnounce();  // 10^9 fuel
  LocalCapacity local = MakeLocal();        // 2 slots
  auto plain = std::get<job::Bid>(DecideBid(announce, local, PricingPolicy(), kNow));
  EXPECT_EQ(plain.fuel_per_second, 0u);
  EXPECT_EQ(plain.expected_finish_ms, 0);

  local.fuel_per_second = 2'000'000'000;
  auto idle = std::get<job::Bid>(DecideBid(announce, local, PricingPolicy(), kNow));
  EXPECT_EQ(idle.fuel_per_second, 2'000'000'000u);
  EXPECT_EQ(idle.expected_start_ms, absl::ToUnixMillis(kNow));
  EXPECT_EQ(idle.expected_finish_ms, absl::ToUnixMillis(kNow) + 500);

  // Both slots busy and one queued: two jobs ahead, each as long as this one at this speed.
  local.running = 2;
  local.queued = 1;
  auto busy = std::get<job::Bid>(DecideBid(announce, local, PricingPolicy(), kNow));
  EXPECT_EQ(busy.expected_start_ms, absl::ToUnixMillis(kNow) + 1000);
  EXPECT_EQ(busy.expected_finish_ms, absl::ToUnixMillis(kNow) + 1500);

  EXPECT_EQ(ExpectedRunMillis(1, 1'000'000'000), 1);  // rounded up, at least 1 ms
  EXPECT_EQ(ExpectedRunMillis(3'000'000'001, 1'000'000'000), 3001);
  const int64_t year = int64_t{365} * 24 * 3600 * 1000;
  EXPECT_EQ(ExpectedRunMillis(UINT64_MAX, 1), year);  // no overflow from a hostile bid
  EXPECT_EQ(ExpectedRunMillis(5, 0), year);
}

TEST(SpeedTest, TheSoonerFinishWinsAnOtherwiseEqualAuctionAndTheLoserIsToldWhy) {
  const job::Announce announce = MakeAnnounce();
  BidView fast = MakeBid(Did('f'), 20);
  fast.bid.fuel_per_second = 2'000'000'000;
  fast.bid.expected_finish_ms = absl::ToUnixMillis(kNow) + 500;
  BidView slow = MakeBid(Did('a'), 20);  // 'a' < 'f': it would win the DID tie-break
  slow.bid.fuel_per_second = 1'000'000'000;
  slow.bid.expected_finish_ms = absl::ToUnixMillis(kNow) + 1000;
  const Selection s = Select(announce, {slow, fast}, SelectionPolicy(), kNow);
  ASSERT_EQ(s.ranked.size(), 2u);
  EXPECT_EQ(s.ranked[0].executor, Did('f'));
  EXPECT_DOUBLE_EQ(s.ranked[0].finish_score, 1.0);
  EXPECT_DOUBLE_EQ(s.ranked[1].finish_score, 0.5);
  EXPECT_EQ(s.ranked[1].expected_finish_ms, absl::ToUnixMillis(kNow) + 1000);
  EXPECT_TRUE(Has(s.ranked[1].reason,
                  "expected finish in 1000 ms at 1e9 fuel/s vs in 500 ms at 2e9 fuel/s"))
      << s.ranked[1].reason;
  const nlohmann::json j = ToJson(s);
  EXPECT_EQ(j["ranked"][1]["finish_score"], 0.5);
  EXPECT_EQ(j["ranked"][0]["fuel_per_second"], 2'000'000'000u);
}

TEST(SpeedTest, WithoutSpeedScoresTheOtherWeightsDecideAlone) {
  const job::Announce announce = MakeAnnounce();
  std::vector<BidView> bids = {MakeBid(Did('a'), 20), MakeBid(Did('b'), 30)};
  bids[1].reputation = 0.95;
  SelectionPolicy without = SelectionPolicy();
  without.finish_weight = 0;
  const Selection a = Select(announce, bids, SelectionPolicy(), kNow);
  const Selection b = Select(announce, bids, without, kNow);
  ASSERT_EQ(a.ranked.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(a.ranked[i].executor, b.ranked[i].executor);
    EXPECT_DOUBLE_EQ(a.ranked[i].score, b.ranked[i].score);
    EXPECT_EQ(a.ranked[i].finish_score, 0);
  }
  // One bid with an estimate among bids without: those score a neutral 0.5.
  bids[0].bid.fuel_per_second = 1'000'000'000;
  bids[0].bid.expected_finish_ms = absl::ToUnixMillis(kNow) + 1000;
  const Selection mixed = Select(announce, bids, SelectionPolicy(), kNow);
  for (const ScoredBid& r : mixed.ranked) {
    EXPECT_DOUBLE_EQ(r.finish_score, r.executor == Did('a') ? 1.0 : 0.5) << r.executor;
  }
}

// A submitter auctions jobs of 10^9 fuel, one every `every`, between a node of speed 3 and
// one of speed 1 (x 10^9 fuel per second, one slot each, FIFO queues). Each executor bids with
// DecideBid from its queue, the submitter picks with Select, the winner queues the job. The slow
// node's DID sorts first, so that it wins the ties of a choice blind to speed.
struct Share {
  int fast = 0, slow = 0;
  double mean_latency_s = 0;
};

Share Auction(const SelectionPolicy& policy, absl::Duration every, int jobs) {
  struct Executor {
    LocalCapacity local;
    std::deque<absl::Time> ends;  // of the running job and the queued ones, in order
    int won = 0;
  };
  std::vector<Executor> executors(2);
  for (size_t i = 0; i < 2; ++i) {
    executors[i].local = MakeLocal();
    executors[i].local.did = Did(i == 0 ? 'z' : 'a');
    executors[i].local.max_concurrent = 1;
    executors[i].local.fuel_per_second = i == 0 ? 3'000'000'000 : 1'000'000'000;
  }
  PricingPolicy pricing;
  pricing.max_queue = 1000;
  double latency_s = 0;
  for (int j = 0; j < jobs; ++j) {
    const absl::Time now = kNow + every * j;
    std::vector<BidView> bids;
    for (Executor& e : executors) {
      while (!e.ends.empty() && e.ends.front() <= now) e.ends.pop_front();
      e.local.running = e.ends.empty() ? 0 : 1;
      e.local.queued = e.ends.empty() ? 0 : uint32_t(e.ends.size() - 1);
      job::Announce announce = MakeAnnounce();
      auto bid = std::get<job::Bid>(DecideBid(announce, e.local, pricing, now));
      BidView view;
      view.bid = std::move(bid);
      view.bid_cid = view.bid.executor;
      view.reputation = 0.8;
      view.rtt = absl::Milliseconds(10);
      bids.push_back(std::move(view));
    }
    const Selection s = Select(MakeAnnounce(), bids, policy, now);
    EXPECT_TRUE(s.has_winner());
    Executor& winner = s.ranked[0].executor == Did('z') ? executors[0] : executors[1];
    ++winner.won;
    const absl::Time start = winner.ends.empty() ? now : winner.ends.back();
    const absl::Time end = start + absl::Seconds(1e9 / double(winner.local.fuel_per_second));
    winner.ends.push_back(end);
    latency_s += absl::ToDoubleSeconds(end - now);
  }
  return {executors[0].won, executors[1].won, latency_s / jobs};
}

TEST(SpeedTest, TwoExecutorsGetWorkInProportionToTheirSpeed) {
  // Arrivals at 95% of the pair's capacity (4 jobs a second): the fast node's share is its
  // share of the capacity, 3/4. (Load balancing alone gets there too once both queues are
  // always full: each node takes what it finishes.)
  const Share busy = Auction(SelectionPolicy(), absl::Microseconds(263'158), 2000);
  const double share = double(busy.fast) / (busy.fast + busy.slow);
  EXPECT_GT(share, 0.70) << busy.fast << " vs " << busy.slow;
  EXPECT_LT(share, 0.80) << busy.fast << " vs " << busy.slow;

  // At half the capacity the queues are often empty, and a choice blind to speed hands many
  // jobs to the slow node; weighing the expected finish sends them where they end sooner.
  SelectionPolicy blind;
  blind.finish_weight = 0;
  const Share with = Auction(SelectionPolicy(), absl::Milliseconds(500), 2000);
  const Share without = Auction(blind, absl::Milliseconds(500), 2000);
  EXPECT_GT(with.fast, without.fast);
  EXPECT_LT(with.mean_latency_s, 0.8 * without.mean_latency_s)
      << "with speed " << with.mean_latency_s << " s, without " << without.mean_latency_s << " s";
}

}  // namespace
}  // namespace mesh::sched
