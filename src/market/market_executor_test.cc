// The executor's side of market::Market alone, stepped by hand (no harness, no network): what
// it does with assignments, good and bad.
#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mesh/common/rng.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/job/job_spec.h"
#include "testing/market_harness.h"

namespace mesh::market {
namespace {

using ::mesh::market::testing::MarketHarness;
using ::testing::HasSubstr;

// The executor's side alone, stepped by hand (no harness): one Market that a submitter's
// messages reach directly.
class ExecutorAloneTest : public ::testing::Test {
 protected:
  ExecutorAloneTest()
      : origin_key_(*crypto::KeyPair::FromSeed(std::string(32, 'o'))),
        executor_key_(*crypto::KeyPair::FromSeed(std::string(32, 'x'))),
        origin_(origin_key_.did().ToString()),
        self_(executor_key_.did().ToString()),
        rng_(1),
        spec_(SignedSpec(origin_key_, now_)) {
    MarketOptions options;
    options.self = self_;
    options.address = "executor:1";
    market_ = std::make_unique<Market>(options, nullptr, &rng_);
    CapacityChanged capacity;
    capacity.capacity.did = self_;
    capacity.capacity.max_concurrent = 1;
    capacity.capacity.memory_bytes = 1 << 30;
    market_->Step(now_, capacity);
    PeerChanged peer;
    peer.peer.did = origin_;
    peer.peer.address = "origin:1";
    peer.peer.alive = true;
    market_->Step(now_, peer);
  }

  static job::SignedJobSpec SignedSpec(const crypto::KeyPair& key, absl::Time now) {
    job::JobSpec spec;
    spec.module = MarketHarness::CidOf("module");
    spec.inputs = {MarketHarness::CidOf("input")};
    spec.limits.fuel = 1000;
    spec.created_at_ms = absl::ToUnixMillis(now);
    spec.nonce = std::string(32, 'a');
    return job::SignJobSpec(spec, key);
  }

  job::Assignment MakeAssignment(uint32_t round) const {
    job::Assignment as;
    as.job_id = spec_.id.ToString();
    as.round = round;
    as.origin = origin_;
    as.origin_address = "origin:1";
    as.executor = self_;
    as.spec_envelope = spec_.envelope;
    return as;
  }
  std::vector<Action> Deliver(const job::Assignment& as) {
    Received r;
    r.from = origin_;
    r.message = as;
    r.envelope = "assignment " + std::to_string(as.round);
    r.envelope_cid = MarketHarness::CidOf(r.envelope);
    return market_->Step(now_, std::move(r));
  }
  template <typename T>
  static std::vector<T> Of(const std::vector<Action>& actions) {
    std::vector<T> out;
    for (const Action& a : actions) {
      if (const T* t = std::get_if<T>(&a)) out.push_back(*t);
    }
    return out;
  }
  // The ack among the actions (a reply), or nullopt.
  static std::optional<job::AssignmentAck> AckIn(const std::vector<Action>& actions) {
    for (const Send& s : Of<Send>(actions)) {
      if (const auto* ack = std::get_if<job::AssignmentAck>(&*s.message); ack && s.reply) {
        return *ack;
      }
    }
    return std::nullopt;
  }

  // For the submitter's side: a market on this node's key (the fixture's executor) with
  // origin_ as its one peer, described by `peer`, and the fixture's job handed to it.
  std::vector<Action> HandToSubmitter(Market& submitter, PeerView peer) {
    peer.did = origin_;
    peer.address = "peer:1";
    peer.alive = true;
    submitter.Step(now_, PeerChanged{peer});
    Ticket ticket;
    ticket.id = spec_.id.ToString();
    ticket.spec = spec_.spec;
    ticket.envelope = spec_.envelope;
    ticket.submitted_at = now_;
    return submitter.Step(now_, JobHanded{ticket});
  }
  MarketOptions SubmitterOptions() const {
    MarketOptions options;
    options.self = self_;
    options.address = "submitter:1";
    return options;
  }
  // The submitter's one peer (origin_) declines `an`; a bid for it from `executor`.
  job::Decline PeerDeclines(const job::Announce& an) const {
    job::Decline no;
    no.job_id = an.job_id;
    no.round = an.round;
    no.executor = origin_;
    no.code = "no_capacity";
    return no;
  }
  // Steps `submitter` to its next timer (a bid window's end); `assigned` gets the executors
  // the step sent an assignment to.
  std::vector<Action> AtWindowEnd(Market& submitter, std::vector<std::string>* assigned) {
    now_ = *submitter.next_timer();
    std::vector<Action> out = submitter.Step(now_, TimerFired{});
    for (const Send& s : Of<Send>(out)) {
      if (s.message.has_value() && std::holds_alternative<job::Assignment>(*s.message)) {
        assigned->push_back(s.to);
      }
    }
    return out;
  }
  job::Bid BidFrom(const job::Announce& an, const std::string& executor,
                   const std::string& address) const {
    job::Bid bid;
    bid.job_id = an.job_id;
    bid.round = an.round;
    bid.executor = executor;
    bid.executor_address = address;
    bid.price = 5;
    bid.cpu_cores = 1;
    bid.memory_bytes = 1 << 30;
    bid.storage_bytes = 1 << 30;
    bid.valid_until_ms = absl::ToUnixMillis(now_ + absl::Seconds(30));
    return bid;
  }

  crypto::KeyPair origin_key_, executor_key_;
  std::string origin_, self_;
  SeededRng rng_;
  absl::Time now_ = absl::FromUnixSeconds(1'780'000'000);
  std::unique_ptr<Market> market_;
  job::SignedJobSpec spec_;
};

// A job it ran and reported, assigned to it again in a later round (its submitter restarted
// and found it idle), is not fetched and run a second time: its receipt goes again, for the
// new round (as node/market_executor.cc did when it found the job in its store).
TEST_F(ExecutorAloneTest, AJobAssignedAgainAfterItsReceiptIsReportedAgainNotRunAgain) {
  std::vector<Action> out = Deliver(MakeAssignment(0));
  const std::vector<Fetch> fetches = Of<Fetch>(out);
  ASSERT_EQ(fetches.size(), 1u);
  out = market_->Step(now_, FetchResult{fetches[0].token, absl::OkStatus()});
  ASSERT_EQ(Of<RunHere>(out).size(), 1u);
  LocalRunEnd end;
  end.job_id = spec_.id.ToString();
  end.origin = origin_;
  end.origin_address = "origin:1";
  end.round = 0;
  end.state = job::JobState::kSucceeded;
  end.outcome = "ok";
  end.output_cid = MarketHarness::CidOf("output");
  end.fuel_used = 500;
  now_ += absl::Seconds(1);
  out = market_->Step(now_, LocalEnded{end});
  std::vector<Send> sends = Of<Send>(out);
  ASSERT_EQ(sends.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<job::Receipt>(*sends[0].message));
  market_->Step(now_, SendResult{sends[0].token, absl::OkStatus(), std::nullopt, ""});
  EXPECT_EQ(market_->Stats().assigned, 0u);

  now_ += absl::Seconds(1);
  out = Deliver(MakeAssignment(3));
  EXPECT_TRUE(Of<Fetch>(out).empty()) << "the job is fetched to run a second time";
  EXPECT_TRUE(AckIn(out).has_value() && AckIn(out)->accepted);
  bool receipt = false;
  for (const Send& s : Of<Send>(out)) {
    if (const auto* r = std::get_if<job::Receipt>(&*s.message)) {
      receipt = true;
      EXPECT_EQ(r->round, 3u);
      EXPECT_EQ(r->output_cid, end.output_cid);
      EXPECT_EQ(r->assignment_cid, MarketHarness::CidOf("assignment 3"));
    }
  }
  EXPECT_TRUE(receipt) << "the receipt is not sent again for the new round";
}

// Bad assignments are refused with the reason, and nothing is fetched or run.
TEST_F(ExecutorAloneTest, BadAssignmentsAreRefusedWithTheirReason) {
  job::Assignment other = MakeAssignment(0);
  other.executor = origin_;
  job::Assignment forged = MakeAssignment(0);
  forged.spec_envelope = "not an envelope";
  job::Assignment renamed = MakeAssignment(0);
  renamed.job_id = MarketHarness::CidOf("another job");
  const std::vector<std::pair<job::Assignment, std::string>> cases = {
      {other, "another executor"}, {forged, "does not verify"}, {renamed, "id is"}};
  for (const auto& [as, why] : cases) {
    const std::vector<Action> out = Deliver(as);
    const std::optional<job::AssignmentAck> ack = AckIn(out);
    ASSERT_TRUE(ack.has_value()) << why;
    EXPECT_FALSE(ack->accepted) << why;
    EXPECT_THAT(ack->reason, HasSubstr(why));
    EXPECT_TRUE(Of<Fetch>(out).empty()) << why;
    EXPECT_TRUE(Of<RunHere>(out).empty()) << why;
  }
  EXPECT_EQ(market_->Stats().assigned, 0u);
  // Draining: no new work.
  CapacityChanged draining;
  draining.capacity.did = self_;
  draining.capacity.max_concurrent = 1;
  draining.capacity.draining = true;
  market_->Step(now_, draining);
  const std::optional<job::AssignmentAck> ack = AckIn(Deliver(MakeAssignment(0)));
  ASSERT_TRUE(ack.has_value());
  EXPECT_FALSE(ack->accepted);
}

// An answered announcement is remembered so that a copy (relayed, or asked again) gets the same
// answer, but only for answers_ttl: the memory of answers stays bounded by time, not only by
// answers_kept (at meshsim's scale, 50,000 answers per node were gigabytes).
TEST_F(ExecutorAloneTest, AnAnswerIsRememberedForItsTimeToLiveOnly) {
  job::Announce an;
  an.job_id = spec_.id.ToString();
  an.origin = origin_;
  an.origin_address = "origin:1";
  an.module_cid = spec_.spec.module;
  an.fuel = 1000;
  an.requirements.max_price = 1000;
  an.bid_deadline_ms = absl::ToUnixMillis(now_ + absl::Seconds(1));
  auto ask = [&] {
    Received r;
    r.from = origin_;
    r.message = an;
    r.envelope = "announce";
    r.envelope_cid = MarketHarness::CidOf(r.envelope);
    for (const Send& s : Of<Send>(market_->Step(now_, std::move(r)))) {
      if (s.reply) return job::MessageName(*s.message);
    }
    return std::string_view("nothing");
  };
  EXPECT_EQ(ask(), "bid");
  // Full now: one running, four queued (max_queue 4).
  CapacityChanged full;
  full.capacity.did = self_;
  full.capacity.max_concurrent = 1;
  full.capacity.memory_bytes = 1 << 30;
  full.capacity.running = 1;
  full.capacity.queued = 4;
  market_->Step(now_, full);
  now_ += absl::Seconds(30);
  EXPECT_EQ(ask(), "bid") << "a copy within the time to live gets the same answer";
  now_ += MarketOptions{}.answers_ttl;
  // Another announcement moves the clock of the answers on; then the first is asked again.
  job::Announce other = an;
  other.job_id = MarketHarness::CidOf("another job");
  std::swap(an, other);
  EXPECT_EQ(ask(), "decline");
  std::swap(an, other);
  EXPECT_EQ(ask(), "decline") << "the answer outlived its time to live";
}

// The submitter's side stepped by hand: a job whose rounds find no bid is announced more widely
// (one more relay hop per empty round, at most kMaxWidening more), and a far peer's round trip
// sets the bid window.
TEST_F(ExecutorAloneTest, ASubmitterWhoseRoundsFindNoBidAsksMoreWidely) {
  // Here the market under test is the submitter, and `origin_` its one peer.
  MarketOptions options = SubmitterOptions();
  options.announce_ttl = 2;
  Market submitter(options, nullptr, &rng_);
  PeerView far;
  far.rtt = absl::Milliseconds(600);
  std::vector<Action> out = HandToSubmitter(submitter, far);
  std::vector<int> ttls;
  for (int round = 0; round < 4; ++round) {
    std::vector<Send> announces;
    for (const Send& s : Of<Send>(out)) {
      if (s.message.has_value() && std::holds_alternative<job::Announce>(*s.message)) {
        announces.push_back(s);
      }
    }
    ASSERT_EQ(announces.size(), 1u) << "round " << round;
    ttls.push_back(announces[0].ttl);
    const auto& an = std::get<job::Announce>(*announces[0].message);
    // 600 ms round trip: the window is 900 ms, not the default 200 ms.
    EXPECT_EQ(an.bid_deadline_ms, absl::ToUnixMillis(now_ + absl::Milliseconds(900)));
    const job::Decline no = PeerDeclines(an);
    out = submitter.Step(now_, SendResult{announces[0].token, absl::OkStatus(), no, ""});
    // The round closed without a winner; the retry comes with the core's timer.
    ASSERT_TRUE(submitter.next_timer().has_value());
    now_ = *submitter.next_timer();
    out = submitter.Step(now_, TimerFired{});
  }
  EXPECT_EQ(ttls, (std::vector<int>{2, 3, 4, 4}));
}

// Found by meshsim: with partial views, a round closed as soon as the submitter's own few peers
// answered, so the bids of executors reached through relays (which come a hop later, and never
// decline) were always late. When the peers' heartbeats list executors the submitter does not
// ask itself, the round waits for enough bids or its window.
TEST_F(ExecutorAloneTest, ARoundThatIsRelayedBeyondOurPeersWaitsForTheRelayedBids) {
  Market submitter(SubmitterOptions(), nullptr, &rng_);
  const std::string stranger = crypto::KeyPair::FromSeed(std::string(32, 's'))->did().ToString();
  PeerView peer;
  peer.peers = {self_, stranger};  // our peer reaches an executor we do not
  std::vector<Action> out = HandToSubmitter(submitter, peer);
  std::optional<Send> announce;
  for (const Send& s : Of<Send>(out)) {
    if (s.message.has_value() && std::holds_alternative<job::Announce>(*s.message)) announce = s;
  }
  ASSERT_TRUE(announce.has_value());
  const auto& an = std::get<job::Announce>(*announce->message);
  const job::Decline no = PeerDeclines(an);
  now_ += absl::Milliseconds(20);
  submitter.Step(now_, SendResult{announce->token, absl::OkStatus(), no, ""});
  EXPECT_EQ(submitter.Stats().auctions_open, 1u);
  // The relayed executor's bid, a hop later, is still in time.
  const job::Bid bid = BidFrom(an, stranger, "stranger:1");
  now_ += absl::Milliseconds(40);
  Received r;
  r.from = stranger;
  r.message = bid;
  r.envelope = "relayed bid";
  r.envelope_cid = MarketHarness::CidOf(r.envelope);
  submitter.Step(now_, std::move(r));
  std::vector<std::string> assigned;
  out = AtWindowEnd(submitter, &assigned);
  std::string closed;
  for (const Persist& p : Of<Persist>(out)) {
    for (const Block& b : p.blocks) closed += b.detail.dump();
  }
  EXPECT_EQ(assigned, std::vector<std::string>{stranger}) << closed;
}

// What a node knows beyond its peers, for the submitter's side below.
class FixedDirectory final : public Directory {
 public:
  explicit FixedDirectory(std::vector<KnownNode> nodes) : nodes_(std::move(nodes)) {}
  std::vector<KnownNode> Beyond() const override { return nodes_; }

 private:
  std::vector<KnownNode> nodes_;
};

// Found by meshsim: a job that only a few far nodes can serve (a GPU in another federation)
// waited for ever behind partial views, since the widest round relays through the same
// neighbourhood every time. Once the widening is spent, each round also asks a fresh random
// draw of the nodes known beyond (never a live peer, this node or one without an address),
// records why once, and a far node's answer wins like a peer's.
TEST_F(ExecutorAloneTest, AJobTheNeighbourhoodCannotServeIsAskedBeyondIt) {
  MarketOptions options = SubmitterOptions();
  options.announce_ttl = 2;
  options.beyond_fanout = 3;
  std::vector<KnownNode> known = {
      {origin_, "peer:1"}, {self_, "submitter:1"}, {"did:key:zNoAddr", ""}};
  for (int i = 0; i < 12; ++i) {
    known.push_back({"did:key:zFar" + std::to_string(i), "far" + std::to_string(i) + ":1"});
  }
  FixedDirectory directory(known);
  Market submitter(options, nullptr, &rng_, &directory);
  std::vector<Action> out = HandToSubmitter(submitter, PeerView{});
  std::set<std::string> drawn;
  std::vector<std::string> history;
  for (int round = 0; round < 6; ++round) {
    std::optional<Send> to_peer;
    std::vector<Send> beyond;
    for (const Send& s : Of<Send>(out)) {
      if (!s.message.has_value() || !std::holds_alternative<job::Announce>(*s.message)) continue;
      if (s.to == origin_) {
        to_peer = s;
      } else {
        beyond.push_back(s);
      }
    }
    for (const Persist& p : Of<Persist>(out)) {
      for (const Block& b : p.blocks) history.push_back(b.phase);
    }
    ASSERT_TRUE(to_peer.has_value()) << "round " << round;
    if (round < 3) {
      EXPECT_TRUE(beyond.empty()) << "round " << round << ": the neighbourhood is asked first";
    } else {
      ASSERT_EQ(beyond.size(), 3u) << "round " << round;
      for (const Send& s : beyond) {
        EXPECT_THAT(s.to, HasSubstr("zFar")) << "never a peer, this node or one without address";
        EXPECT_EQ(s.address, "far" + s.to.substr(std::string("did:key:zFar").size()) + ":1");
        EXPECT_EQ(s.ttl, 3) << "a far node relays into its own neighbourhood";
        EXPECT_NE(s.token, 0u) << "its answer comes back like a peer's";
        drawn.insert(s.to);
      }
    }
    const auto& an = std::get<job::Announce>(*to_peer->message);
    const job::Decline no = PeerDeclines(an);
    out = submitter.Step(now_, SendResult{to_peer->token, absl::OkStatus(), no, ""});
    if (round == 5) {
      // The last draw's first node bids, and wins the job.
      submitter.Step(now_, SendResult{beyond[0].token, absl::OkStatus(),
                                      BidFrom(an, beyond[0].to, beyond[0].address), "bid cid"});
      std::vector<std::string> assigned;
      AtWindowEnd(submitter, &assigned);
      EXPECT_EQ(assigned, std::vector<std::string>{beyond[0].to});
      break;
    }
    // No bid: the retry comes with the core's timer (after the window, as beyond nodes do
    // not decline for their relays).
    ASSERT_TRUE(submitter.next_timer().has_value());
    now_ = *submitter.next_timer();
    out = submitter.Step(now_, TimerFired{});
    if (Of<Send>(out).empty()) {  // the window closed; the retry is one timer later
      ASSERT_TRUE(submitter.next_timer().has_value());
      now_ = *submitter.next_timer();
      out = submitter.Step(now_, TimerFired{});
    }
  }
  EXPECT_GT(drawn.size(), 3u) << "a fresh draw every round";
  EXPECT_EQ(std::count(history.begin(), history.end(), "asked_beyond"), 1)
      << "why it asked beyond is recorded once, not every round";
}

}  // namespace
}  // namespace mesh::market
