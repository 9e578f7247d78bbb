#include "mesh/sched/bidding.h"

#include <gtest/gtest.h>

#include <functional>

#include "mesh/common/testing.h"
#include "mesh/sched/selection.h"
#include "sched_test_util.h"

namespace mesh::sched {
namespace {

using nlohmann::json;
using testing::Did;
using testing::Has;
using testing::kNow;
using testing::MakeAnnounce;
using testing::MakeLocal;

TEST(BiddingTest, DeclinesWithACodeAndASentence) {
  struct Case {
    std::function<void(job::Announce&, LocalCapacity&)> change;
    std::string code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](auto& a, auto& l) { l.draining = true; }, "draining", "draining"},
      {[](auto& a, auto& l) {
         a.exclude = {Did('x'), l.did};
       },
       "excluded", "earlier round"},
      {[](auto& a, auto& l) { a.module_bytes = 80 << 20; }, "too_large",
       "module is 80 MiB; this node accepts modules up to 64 MiB"},
      {[](auto& a, auto& l) { l.max_fuel = 100; }, "too_large",
       "fuel limit 1000000000 exceeds this node's max_fuel 100"},
      {[](auto& a, auto& l) { a.memory_bytes = 2ull << 30; }, "memory",
       "job needs 2 GiB of memory; this node accepts at most 1 GiB"},
      {[](auto& a, auto& l) { a.requirements.storage_bytes = 11ull << 30; }, "storage",
       "job needs 11 GiB of storage; this node has 10 GiB free"},
      {[](auto& a, auto& l) { a.requirements.cpu_cores = 16; }, "cpu",
       "job needs 16 cpu cores; this node has 8"},
      {[](auto& a, auto& l) {
         a.requirements.capabilities = {"gpu", "tpu"};
       },
       "capability", "capability 'tpu'"},
      {[](auto& a, auto& l) { a.requirements.federations = {"eu"}; }, "federation",
       "none of the required federations (eu)"},
      {[](auto& a, auto& l) {
         l.running = 2;
         l.queued = 4;
       },
       "no_capacity", "2 of 2 slots busy and 4 jobs queued (max_queue 4)"},
      {[](auto& a, auto& l) { a.requirements.max_price = 10; }, "price",
       "quote 11 (1 + 10 per 10^9 fuel, load 0.00) exceeds max_price 10"},
  };
  for (const Case& c : cases) {
    job::Announce announce = MakeAnnounce();
    LocalCapacity local = MakeLocal();
    ASSERT_TRUE(std::holds_alternative<job::Bid>(DecideBid(announce, local, {}, kNow)));
    c.change(announce, local);
    auto decision = DecideBid(announce, local, PricingPolicy(), kNow);
    ASSERT_TRUE(std::holds_alternative<job::Decline>(decision)) << c.code;
    const job::Decline& decline = std::get<job::Decline>(decision);
    EXPECT_EQ(decline.code, c.code);
    EXPECT_TRUE(Has(decline.message, c.message)) << decline.message;
    EXPECT_EQ(decline.job_id, announce.job_id);
    EXPECT_EQ(decline.round, announce.round);
    EXPECT_EQ(decline.executor, local.did);
  }
}

TEST(BiddingTest, BidOffersThisNodeAndPassesTheSubmittersFilter) {
  job::Announce announce = MakeAnnounce();
  announce.requirements.capabilities = {"gpu"};
  announce.requirements.federations = {"lab"};
  announce.requirements.max_price = 11;
  const LocalCapacity local = MakeLocal();
  auto decision = DecideBid(announce, local, PricingPolicy(), kNow);
  ASSERT_TRUE(std::holds_alternative<job::Bid>(decision));
  const job::Bid& bid = std::get<job::Bid>(decision);
  EXPECT_EQ(bid.job_id, announce.job_id);
  EXPECT_EQ(bid.round, 1u);
  EXPECT_EQ(bid.executor, local.did);
  EXPECT_EQ(bid.executor_address, local.address);
  EXPECT_EQ(bid.price, 11u);  // 1 + 10 per 10^9 fuel, idle
  EXPECT_EQ(bid.base_fee, 1u);
  EXPECT_EQ(bid.rate_per_gfuel, 10u);
  EXPECT_EQ(bid.cpu_cores, 8u);
  EXPECT_EQ(bid.memory_bytes, 1ull << 30);
  EXPECT_EQ(bid.storage_bytes, 10ull << 30);
  EXPECT_EQ(bid.capabilities, local.capabilities);
  EXPECT_EQ(bid.load, 0.0);
  EXPECT_EQ(bid.expected_start_ms, absl::ToUnixMillis(kNow));
  EXPECT_EQ(bid.valid_until_ms, absl::ToUnixMillis(kNow + absl::Seconds(30)));
  EXPECT_TRUE(bid.header.nonce.empty());
  BidView view{bid, "bafkreibid", 0.5, absl::Milliseconds(5), true};
  EXPECT_FALSE(FilterBid(announce, view, kNow).has_value());
}

TEST(BiddingTest, LoadRaisesThePriceAndDelaysTheStart) {
  job::Announce announce = MakeAnnounce();
  announce.fuel = 100'000'000'000;  // base quote 1 + 1000
  LocalCapacity local = MakeLocal();
  local.running = 1;  // load 0.5, markup 0.5: x1.25
  auto half = std::get<job::Bid>(DecideBid(announce, local, PricingPolicy(), kNow));
  EXPECT_EQ(half.load, 0.5);
  EXPECT_EQ(half.price, 1252u);  // 1001 * 1.25 = 1251.25, rounded up
  EXPECT_EQ(half.expected_start_ms, absl::ToUnixMillis(kNow));

  local.running = 2;
  local.queued = 1;  // full: starts after the queue, ~100 ms per job ahead
  auto full = std::get<job::Bid>(DecideBid(announce, local, PricingPolicy(), kNow));
  EXPECT_EQ(full.load, 1.5);
  EXPECT_EQ(full.price, 1752u);  // x1.75
  EXPECT_EQ(full.queued, 1u);
  EXPECT_EQ(full.expected_start_ms, absl::ToUnixMillis(kNow + absl::Milliseconds(200)));

  PricingPolicy flat;
  flat.load_markup = 0;
  EXPECT_EQ(std::get<job::Bid>(DecideBid(announce, local, flat, kNow)).price, 1001u);

  // Jobs queued behind workers that have not started yet fill the node as well: 0 running and
  // 6 queued on 2 slots with max_queue 4 is full.
  local.running = 0;
  local.queued = 6;
  auto decline = std::get<job::Decline>(DecideBid(announce, local, PricingPolicy(), kNow));
  EXPECT_EQ(decline.code, "no_capacity");
  local.queued = 5;
  auto last = std::get<job::Bid>(DecideBid(announce, local, PricingPolicy(), kNow));
  EXPECT_EQ(last.expected_start_ms, absl::ToUnixMillis(kNow + absl::Milliseconds(400)));

  PricingPolicy greedy;
  greedy.rate_per_gfuel = UINT64_MAX;
  EXPECT_EQ(std::get<job::Bid>(DecideBid(announce, local, greedy, kNow)).price, UINT64_MAX);
}

TEST(BiddingTest, WindowClosesAtDeadlineAllAnswersOrEnoughBids) {
  const BidWindow window{kNow + absl::Seconds(2), 4, 3};
  EXPECT_FALSE(ShouldClose(window, 0, 0, kNow));
  EXPECT_FALSE(ShouldClose(window, 2, 1, kNow));
  EXPECT_TRUE(ShouldClose(window, 2, 2, kNow));  // everyone asked answered
  EXPECT_TRUE(ShouldClose(window, 3, 0, kNow));  // enough bids
  EXPECT_TRUE(ShouldClose(window, 0, 0, kNow + absl::Seconds(2)));
  EXPECT_TRUE(ShouldClose(window, 0, 0, kNow + absl::Seconds(3)));
  // Nobody asked directly: relayed announcements may still bring bids until the deadline.
  const BidWindow relayed{kNow + absl::Seconds(2), 0, 3};
  EXPECT_FALSE(ShouldClose(relayed, 0, 0, kNow));
  EXPECT_TRUE(ShouldClose(relayed, 3, 0, kNow));
  // enough_bids 0 disables the early close on bids alone.
  const BidWindow patient{kNow + absl::Seconds(2), 10, 0};
  EXPECT_FALSE(ShouldClose(patient, 9, 0, kNow));
}

TEST(BiddingTest, BackoffIsJitteredWithinTheExponentialBound) {
  SeededRng rng(7);
  const RetryPolicy policy;  // 100 ms doubling, at most 10 s
  for (int attempt = 0; attempt < 12; ++attempt) {
    const absl::Duration bound =
        std::min(policy.max, policy.base * static_cast<double>(int64_t{1} << attempt));
    absl::Duration largest = absl::ZeroDuration();
    for (int i = 0; i < 200; ++i) {
      const absl::Duration d = Backoff(policy, attempt, rng);
      EXPECT_GE(d, absl::ZeroDuration());
      EXPECT_LE(d, bound);
      largest = std::max(largest, d);
    }
    EXPECT_GT(largest, bound / 2) << "attempt " << attempt;  // jitter spans the range
  }
  EXPECT_LE(Backoff(policy, 1000, rng), policy.max);  // no overflow for huge attempts
  EXPECT_GE(Backoff(policy, -1, rng), absl::ZeroDuration());
  SeededRng a(1), b(1);
  EXPECT_EQ(Backoff(policy, 3, a), Backoff(policy, 3, b));  // replayable with the same seed
  EXPECT_EQ(Backoff(RetryPolicy{5, absl::ZeroDuration(), absl::Seconds(1)}, 3, rng),
            absl::ZeroDuration());
}

TEST(BiddingTest, BackoffWithoutJitterDoublesUpToItsCap) {
  const absl::Duration base = absl::Milliseconds(200), max = absl::Seconds(10);
  EXPECT_EQ(Backoff(base, max, 0), absl::Milliseconds(200));
  EXPECT_EQ(Backoff(base, max, 1), absl::Milliseconds(400));
  EXPECT_EQ(Backoff(base, max, 5), absl::Milliseconds(6400));
  EXPECT_EQ(Backoff(base, max, 6), max);
  EXPECT_EQ(Backoff(base, max, 1 << 30), max);  // no overflow
  EXPECT_EQ(Backoff(base, max, -3), base);
  EXPECT_EQ(Backoff(absl::ZeroDuration(), max, 4), absl::ZeroDuration());
}

TEST(PricingPolicyTest, JsonRoundTripsAndRejectsBadValues) {
  PricingPolicy policy{5, 20, 0.25, 8, absl::Seconds(10)};
  ASSERT_OK_AND_ASSIGN(PricingPolicy back, PricingPolicyFromJson(ToJson(policy)));
  EXPECT_EQ(ToJson(back), ToJson(policy));
  EXPECT_EQ(back.bid_validity, absl::Seconds(10));
  ASSERT_OK_AND_ASSIGN(PricingPolicy defaults, PricingPolicyFromJson(json::object()));
  EXPECT_EQ(ToJson(defaults), ToJson(PricingPolicy()));

  const std::vector<std::pair<json, std::string>> cases = {
      {json("cheap"), "pricing policy must be an object"},
      {{{"discount", 1}}, "/discount: unknown field"},
      {{{"base_fee", -1}}, "/base_fee: must be a non-negative integer"},
      {{{"rate_per_gfuel", 1.5}}, "/rate_per_gfuel: must be a non-negative integer"},
      {{{"rate_per_gfuel", false}}, "/rate_per_gfuel: must be a non-negative integer"},
      {{{"load_markup", -0.1}}, "/load_markup: must be a number between 0 and 100"},
      {{{"max_queue", 1 << 21}}, "/max_queue: must be between 0 and 1048576"},
      {{{"bid_validity_ms", 0}}, "/bid_validity_ms: must be between 1 and 86400000"},
  };
  for (const auto& [body, expected] : cases) {
    absl::StatusOr<PricingPolicy> p = PricingPolicyFromJson(body);
    ASSERT_FALSE(p.ok()) << body.dump();
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(Has(std::string(p.status().message()), expected)) << p.status();
  }
}

}  // namespace
}  // namespace mesh::sched
