// Membership driven by a tiny virtual-time network: every message is delivered after 5-15 ms,
// a message to a dead node fails back to its sender (SendFailed) after 50 ms, and each node's
// one timer fires when it asks. No sockets, no sleeps.
#include "mesh/membership/membership.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "mesh/common/strings.h"

namespace mesh::membership {
namespace {

class Network {
 public:
  Network(size_t n, MembershipOptions options, uint64_t seed = 7) : rng_(seed) {
    for (size_t i = 0; i < n; ++i) {
      Node& node = nodes_.emplace_back();
      node.rng = std::make_unique<SeededRng>(seed * 1000 + i);
      node.core = std::make_unique<Membership>(options, ContactOf(i), node.rng.get());
    }
  }

  static Contact ContactOf(size_t i) {
    return {mesh::StrCat("node-", i), mesh::StrCat("10.0.0.", i, ":7000")};
  }
  static size_t IndexOf(const std::string& id) { return std::stoul(id.substr(5)); }

  // Node i starts with `contacts` as its seed list.
  void Start(size_t i, std::vector<size_t> contacts) {
    membership::Start in;
    for (size_t c : contacts) in.contacts.push_back(ContactOf(c));
    Feed(i, in);
  }
  void Discover(size_t i, std::vector<size_t> contacts) {
    membership::Discovered in;
    for (size_t c : contacts) in.contacts.push_back(ContactOf(c));
    Feed(i, in);
  }
  void Kill(size_t i) { nodes_[i].alive = false; }
  void Leave(size_t i) {
    Feed(i, membership::Leave{});
    nodes_[i].alive = false;
  }

  void Advance(absl::Duration d) {
    const absl::Time end = now_ + d;
    while (!events_.empty() && events_.top().at <= end) {
      Event e = events_.top();
      events_.pop();
      now_ = e.at;
      e.run();
    }
    now_ = end;
  }

  Membership& core(size_t i) { return *nodes_[i].core; }
  size_t size() const { return nodes_.size(); }
  bool alive(size_t i) const { return nodes_[i].alive; }
  uint64_t sent() const { return sent_; }
  std::map<std::string, uint64_t> sent_by_type() const { return by_type_; }

  // True if every live node reaches every other live one through active views.
  bool Connected() const {
    size_t first = 0;
    while (first < nodes_.size() && !nodes_[first].alive) ++first;
    std::set<size_t> seen = {first};
    std::vector<size_t> stack = {first};
    while (!stack.empty()) {
      const size_t i = stack.back();
      stack.pop_back();
      for (const Contact& c : nodes_[i].core->active()) {
        const size_t j = IndexOf(c.id.str());
        if (nodes_[j].alive && seen.insert(j).second) stack.push_back(j);
      }
    }
    size_t live = 0;
    for (const Node& n : nodes_) live += n.alive ? 1 : 0;
    return seen.size() == live;
  }

  // Active links whose other end does not list this node (they should be rare and short-lived).
  size_t Asymmetric() const {
    size_t n = 0;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i].alive) continue;
      for (const Contact& c : nodes_[i].core->active()) {
        const size_t j = IndexOf(c.id.str());
        if (!nodes_[j].alive || !nodes_[j].core->IsActive(ContactOf(i).id)) ++n;
      }
    }
    return n;
  }

  // Up minus down events per node: must equal the active view's size.
  int UpDownBalance(size_t i) const { return nodes_[i].ups - nodes_[i].downs; }

 private:
  struct Node {
    std::unique_ptr<SeededRng> rng;
    std::unique_ptr<Membership> core;
    bool alive = true;
    uint64_t timer_generation = 0;
    int ups = 0, downs = 0;
  };
  struct Event {
    absl::Time at;
    uint64_t seq;
    std::function<void()> run;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.at != b.at ? a.at > b.at : a.seq > b.seq;
    }
  };

  void At(absl::Time at, std::function<void()> run) { events_.push({at, seq_++, std::move(run)}); }

  void Feed(size_t i, Input input) {
    Node& node = nodes_[i];
    if (!node.alive) return;
    for (Action& a : node.core->Step(now_, std::move(input))) {
      if (auto* send = std::get_if<membership::Send>(&a)) {
        ++sent_;
        ++by_type_[std::string(MessageName(send->message))];
        const size_t to = IndexOf(send->to.id.str());
        const Contact from = ContactOf(i);
        if (!nodes_[to].alive) {
          At(now_ + absl::Milliseconds(50),
             [this, i, id = send->to.id] { Feed(i, SendFailed{id}); });
          continue;
        }
        const absl::Duration latency = absl::Milliseconds(5 + int(rng_.Uniform(11)));
        // Like the shells: a ping carries the sender's active view.
        if (std::holds_alternative<Ping>(send->message)) send->message = Ping{node.core->active()};
        At(now_ + latency, [this, to, from, m = std::move(send->message)] {
          Feed(to, Received{from, m});
        });
      } else if (std::holds_alternative<PeerUp>(a)) {
        ++node.ups;
      } else if (std::holds_alternative<PeerDown>(a)) {
        ++node.downs;
      } else if (auto* timer = std::get_if<SetTimer>(&a)) {
        const uint64_t gen = ++node.timer_generation;
        At(timer->at, [this, i, gen] {
          if (nodes_[i].timer_generation == gen) Feed(i, TimerFired{});
        });
      }
    }
  }

  SeededRng rng_;
  std::vector<Node> nodes_;
  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
  uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, Later> events_;
  uint64_t sent_ = 0;
  std::map<std::string, uint64_t> by_type_;
};

MembershipOptions Small() {
  MembershipOptions o;
  o.active_size = 4;
  o.passive_size = 12;
  o.join_walk = 4;
  o.passive_walk = 2;
  o.shuffle_every = absl::Seconds(2);
  return o;
}

// Nodes join one after the other through a random earlier node.
void JoinAll(Network& net, absl::Duration gap = absl::Milliseconds(100)) {
  SeededRng pick(99);
  net.Start(0, {});
  for (size_t i = 1; i < net.size(); ++i) {
    net.Start(i, {pick.Uniform(i)});
    net.Advance(gap);
  }
}

TEST(MembershipTest, JoinedNodesFormOneConnectedGraphOfBoundedSymmetricViews) {
  Network net(60, Small());
  JoinAll(net);
  net.Advance(absl::Seconds(20));
  EXPECT_TRUE(net.Connected());
  for (size_t i = 0; i < net.size(); ++i) {
    const size_t active = net.core(i).active().size();
    EXPECT_GE(active, 2u) << "node " << i;
    EXPECT_LE(active, 4u) << "node " << i;
    EXPECT_LE(net.core(i).passive().size(), 12u);
    EXPECT_EQ(net.UpDownBalance(i), int(active)) << "node " << i;
  }
  EXPECT_LE(net.Asymmetric(), 2u);
  // Shuffles spread knowledge beyond the joiners' neighbourhood: passive views fill.
  size_t full = 0;
  for (size_t i = 0; i < net.size(); ++i) full += net.core(i).passive().size() >= 8 ? 1 : 0;
  EXPECT_GE(full, net.size() / 2);
}

TEST(MembershipTest, TrafficPerNodeDoesNotGrowWithTheNetwork) {
  // Messages per node per second, after joining, at 30 and at 240 nodes.
  auto rate = [](size_t n) {
    Network net(n, Small());
    JoinAll(net, absl::Milliseconds(20));
    net.Advance(absl::Seconds(10));
    const uint64_t before = net.sent();
    net.Advance(absl::Seconds(30));
    return double(net.sent() - before) / double(n) / 30.0;
  };
  const double small = rate(30), large = rate(240);
  // Pings to at most 4 peers a second, a shuffle (a few hops and a reply) every 2 s.
  EXPECT_LT(large, 4 + 4.0);
  EXPECT_LT(large, small * 1.3) << "small " << small << " large " << large;
}

TEST(MembershipTest, DeadPeersAreDroppedAndTheirSlotsRefilledFromThePassiveView) {
  Network net(50, Small());
  JoinAll(net);
  net.Advance(absl::Seconds(20));
  for (size_t i = 0; i < 50; i += 5) net.Kill(i);  // 20% crash at once
  net.Advance(absl::Seconds(30));
  EXPECT_TRUE(net.Connected());
  for (size_t i = 0; i < net.size(); ++i) {
    if (!net.alive(i)) continue;
    for (const Contact& c : net.core(i).active()) {
      EXPECT_TRUE(net.alive(Network::IndexOf(c.id.str())))
          << "node " << i << " keeps dead " << c.id;
    }
    EXPECT_GE(net.core(i).active().size(), 2u) << "node " << i;
  }
  uint64_t dead = 0;
  for (size_t i = 0; i < net.size(); ++i) dead += net.alive(i) ? net.core(i).stats().dead : 0;
  EXPECT_GT(dead, 0u);
}

TEST(MembershipTest, AGracefulLeaveIsSeenAtOnceNotAfterTheDeadline) {
  Network net(20, Small());
  JoinAll(net);
  net.Advance(absl::Seconds(10));
  std::vector<size_t> had;
  for (size_t i = 0; i < net.size(); ++i) {
    if (i != 7 && net.core(i).IsActive("node-7")) had.push_back(i);
  }
  ASSERT_FALSE(had.empty());
  net.Leave(7);
  net.Advance(absl::Milliseconds(100));  // far less than dead_after (5 s)
  for (size_t i : had) EXPECT_FALSE(net.core(i).IsActive("node-7")) << "node " << i;
  EXPECT_TRUE(net.core(7).active().empty());
}

TEST(MembershipTest, AJoinThroughADeadContactFallsBackToTheNextOne) {
  Network net(4, Small());
  net.Start(0, {});
  net.Start(1, {0});
  net.Advance(absl::Seconds(1));
  net.Kill(2);
  net.Start(3, {2, 1});  // its first pick may be the dead node 2
  net.Advance(absl::Seconds(8));
  EXPECT_TRUE(net.core(3).IsActive("node-1") || net.core(3).IsActive("node-0"));
  EXPECT_FALSE(net.core(3).IsActive("node-2"));
  EXPECT_TRUE(net.core(1).IsActive("node-3") || net.core(0).IsActive("node-3"));
}

TEST(MembershipTest, ANodeStartedAloneJoinsThroughContactsDiscoveredLater) {
  // meshd learns its bootstrap peers' DIDs only when they answer: it starts with no contact.
  Network net(6, Small());
  net.Start(0, {});
  for (size_t i = 1; i < 5; ++i) net.Start(i, {0});
  net.Start(5, {});
  net.Advance(absl::Seconds(5));
  EXPECT_EQ(net.core(5).active_count(), 0u);
  net.Discover(5, {3});
  net.Advance(absl::Seconds(5));
  EXPECT_GE(net.core(5).active_count(), 1u);
  EXPECT_TRUE(net.Connected());
  EXPECT_EQ(net.Asymmetric(), 0u);
  // Known contacts (itself, or one already active) change nothing.
  const std::vector<Contact> before = net.core(5).active();
  net.Discover(5, {5});
  EXPECT_EQ(net.core(5).active(), before);
}

TEST(MembershipTest, ASmallNetworkBecomesAFullMeshThroughPings) {
  // Six nodes with room for five neighbours each, all joining through node 0: the pings'
  // views fill every active view within a few probe periods, long before any shuffle.
  MembershipOptions o = Small();
  o.active_size = 5;
  o.shuffle_every = absl::Minutes(10);
  Network net(6, o);
  net.Start(0, {});
  for (size_t i = 1; i < 6; ++i) net.Start(i, {0});
  net.Advance(absl::Seconds(8));
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(net.core(i).active_count(), 5u) << "node " << i;
  EXPECT_EQ(net.Asymmetric(), 0u);
}

TEST(MembershipTest, TheSameSeedGivesTheSameViews) {
  auto views = [] {
    Network net(40, Small(), 11);
    JoinAll(net);
    net.Advance(absl::Seconds(15));
    std::vector<std::vector<Contact>> out;
    for (size_t i = 0; i < net.size(); ++i) out.push_back(net.core(i).active());
    return std::make_pair(out, net.sent());
  };
  EXPECT_EQ(views(), views());
}

TEST(PeerIdTest, IdsAreEqualByContentWhetherOrNotTheyShareTheirString) {
  const PeerId a("did:key:z6MkAlpha");
  const PeerId shared = a;                                // a copy shares the string
  const PeerId parsed(std::string("did:key:z6MkAlpha"));  // the same id made again
  const PeerId other("did:key:z6MkBravo");
  EXPECT_EQ(a, shared);
  EXPECT_EQ(&a.str(), &shared.str());
  EXPECT_EQ(a, parsed);
  EXPECT_NE(&a.str(), &parsed.str());
  EXPECT_EQ(a.hash(), parsed.hash());
  EXPECT_NE(a, other);
  // Against plain strings, without making a PeerId of them.
  EXPECT_TRUE(a == std::string("did:key:z6MkAlpha"));
  EXPECT_TRUE(std::string("did:key:z6MkAlpha") == a);
  EXPECT_TRUE(a != "did:key:z6MkBravo");
  EXPECT_EQ(a.str(), "did:key:z6MkAlpha");
  // The empty id: the default, and one made of "".
  EXPECT_TRUE(PeerId().empty());
  EXPECT_EQ(PeerId(), PeerId(""));
  EXPECT_EQ(PeerId().str(), "");
  EXPECT_NE(PeerId(), a);
  // Contacts compare ids and addresses.
  EXPECT_EQ((Contact{a, "h:1"}), (Contact{parsed, "h:1"}));
  EXPECT_NE((Contact{a, "h:1"}), (Contact{a, "h:2"}));
}

TEST(MembershipTest, OptionsAreValidated) {
  EXPECT_TRUE(Validate(MembershipOptions{}).ok());
  MembershipOptions o;
  o.active_size = 0;
  EXPECT_THAT(Validate(o).message(), testing::HasSubstr("active_size"));
  o = {};
  o.passive_walk = 9;
  EXPECT_THAT(Validate(o).message(), testing::HasSubstr("passive_walk"));
  o = {};
  o.shuffle_active = 6;
  EXPECT_THAT(Validate(o).message(), testing::HasSubstr("shuffle_active"));
  o = {};
  o.dead_after = absl::Milliseconds(10);
  EXPECT_THAT(Validate(o).message(), testing::HasSubstr("dead_after"));
}

}  // namespace
}  // namespace mesh::membership
