#include "mesh/node/gossip_wire.h"

#include <gtest/gtest.h>

#include "mesh/common/testing.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/job/market.h"

namespace mesh::node {
namespace {

using membership::Contact;

// Every membership message but the ping crosses the wire as a signed job::Gossip and comes back
// as it left.
TEST(GossipWireTest, EveryKindSurvivesSigningAndOpening) {
  const crypto::KeyPair key = crypto::KeyPair::Generate();
  const Contact self{key.did().ToString(), "10.0.0.1:7421"};
  const Contact other{crypto::KeyPair::Generate().did().ToString(), "10.0.0.2:7421"};
  const std::vector<membership::Message> messages = {
      membership::Join{},
      membership::ForwardJoin{other, 5},
      membership::Neighbor{true},
      membership::NeighborReply{false},
      membership::Disconnect{},
      membership::Shuffle{self, 4, {self, other}},
      membership::ShuffleReply{{other}},
  };
  for (const membership::Message& m : messages) {
    const std::string bytes =
        job::SealMessage(key, GossipOf(m, self), 1'800'000'000'000, std::string(32, 'a'))
            .Serialize();
    ASSERT_OK_AND_ASSIGN(job::OpenedMessage opened, job::OpenMessage(bytes, 1 << 16));
    const auto* gossip = std::get_if<job::Gossip>(&opened.message);
    ASSERT_NE(gossip, nullptr) << membership::MessageName(m);
    EXPECT_EQ(gossip->node, self.id);
    EXPECT_EQ(gossip->address, self.address);
    ASSERT_OK_AND_ASSIGN(membership::Message back, MembershipMessageOf(*gossip));
    ASSERT_EQ(back.index(), m.index()) << membership::MessageName(m);
    if (const auto* fj = std::get_if<membership::ForwardJoin>(&back)) {
      EXPECT_EQ(fj->joiner, other);
      EXPECT_EQ(fj->ttl, 5);
    } else if (const auto* n = std::get_if<membership::Neighbor>(&back)) {
      EXPECT_TRUE(n->high_priority);
    } else if (const auto* r = std::get_if<membership::NeighborReply>(&back)) {
      EXPECT_FALSE(r->accepted);
    } else if (const auto* sh = std::get_if<membership::Shuffle>(&back)) {
      EXPECT_EQ(sh->origin, self);
      EXPECT_EQ(sh->ttl, 4);
      EXPECT_EQ(sh->sample, (std::vector<Contact>{self, other}));
    } else if (const auto* sr = std::get_if<membership::ShuffleReply>(&back)) {
      EXPECT_EQ(sr->sample, std::vector<Contact>{other});
    }
  }
}

TEST(GossipWireTest, AHeartbeatIsAPingListingTheSendersActiveView) {
  job::Heartbeat hb;
  hb.peers = {{"did:key:a", "a:1"}, {"did:key:b", "b:1"}};
  EXPECT_EQ(PingOf(hb).active, (std::vector<Contact>{{"did:key:a", "a:1"}, {"did:key:b", "b:1"}}));
  EXPECT_TRUE(PingOf(job::Heartbeat{}).active.empty());
}

TEST(GossipWireTest, AWalkWithoutItsSubjectOrAnUnknownKindIsRefused) {
  job::Gossip g;
  g.node = crypto::KeyPair::Generate().did().ToString();
  g.kind = "forward_join";
  g.ttl = 3;
  absl::StatusOr<membership::Message> m = MembershipMessageOf(g);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("forward_join gossip needs a subject"), std::string::npos);
  g.kind = "shuffle";
  EXPECT_FALSE(MembershipMessageOf(g).ok());
  g.kind = "promote_me";
  EXPECT_NE(MembershipMessageOf(g).status().message().find("unknown gossip kind"),
            std::string::npos);
  // A walk longer than the wire allows leaves clamped, never as a number a peer refuses.
  const Contact self{g.node, "a:1"};
  EXPECT_EQ(GossipOf(membership::ForwardJoin{self, 1000}, self).ttl, job::kMaxGossipTtl);
}

}  // namespace
}  // namespace mesh::node
