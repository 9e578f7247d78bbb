#include "mesh/storage/holder_chooser.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace mesh::storage {
namespace {

HolderCandidate Peer(std::string did, std::string zone, double reputation = 0.5,
                     std::optional<uint64_t> free = 1ull << 30, bool alive = true) {
  return {did, did + ":7421", alive, free, reputation, std::move(zone)};
}

std::vector<std::string> TakeAll(HolderChooser& chooser, size_t n) {
  std::vector<std::string> out;
  while (out.size() < n) {
    std::optional<HolderCandidate> next = chooser.Next();
    if (!next.has_value()) break;
    chooser.Accepted(*next);
    out.push_back(next->did);
  }
  return out;
}

TEST(HolderChooserTest, SpreadsShardsOverZonesBeforeDoublingUp) {
  // Three zones, five peers in zone a: six holders must use b and c before a's second peer.
  HolderChooser chooser(
      {Peer("a1", "a", 0.9), Peer("a2", "a", 0.9), Peer("a3", "a", 0.9), Peer("a4", "a", 0.9),
       Peer("a5", "a", 0.9), Peer("b1", "b", 0.2), Peer("c1", "c", 0.3), Peer("c2", "c", 0.3)},
      1 << 20, 0);
  const std::vector<std::string> got = TakeAll(chooser, 6);
  ASSERT_EQ(got.size(), 6u);
  // Round one: one per zone, best ranked first; round two: a and c again (b has one peer).
  EXPECT_EQ(got[0], "a1");
  EXPECT_EQ(std::set<std::string>(got.begin(), got.begin() + 3),
            (std::set<std::string>{"a1", "b1", "c1"}));
  std::map<char, int> per_zone;
  for (const std::string& did : got) ++per_zone[did[0]];
  EXPECT_EQ(per_zone['a'], 3);  // b is exhausted after one; a and c share the rest
  EXPECT_EQ(per_zone['b'], 1);
  EXPECT_EQ(per_zone['c'], 2);
}

TEST(HolderChooserTest, PeersWithoutAZoneAreEachTheirOwnDomain) {
  HolderChooser chooser({Peer("p1", ""), Peer("p2", ""), Peer("p3", "z"), Peer("p4", "z")}, 1, 0);
  const std::vector<std::string> got = TakeAll(chooser, 3);
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()),
            (std::set<std::string>{"p1", "p2", "p3"}));
}

TEST(HolderChooserTest, RanksKnownRoomThenReputationThenRoom) {
  HolderChooser chooser(
      {Peer("passive", "", 1.0, std::nullopt, false), Peer("low", "", 0.2),
       Peer("high-small", "", 0.8, 10 << 20), Peer("high-big", "", 0.8, 1ull << 40)},
      1 << 20, 0);
  EXPECT_EQ(TakeAll(chooser, 4),
            (std::vector<std::string>{"high-big", "high-small", "low", "passive"}));
}

TEST(HolderChooserTest, EveryPeerLeftOutHasAReason) {
  HolderChooser chooser({Peer("full", "", 0.9, 1024),
                         Peer("shady", "", 0.05),
                         {"nowhere", "", true, 1ull << 30, 0.9, ""},
                         Peer("ok", "")},
                        1 << 20, 0.1);
  EXPECT_EQ(chooser.available(), 1u);
  std::optional<HolderCandidate> ok = chooser.Next();
  ASSERT_TRUE(ok.has_value());
  chooser.Refused(*ok, "over its quota");
  EXPECT_FALSE(chooser.Next().has_value());
  const std::string why = chooser.Explain();
  EXPECT_NE(why.find("full: offers 1 KiB, 1 MiB needed"), std::string::npos) << why;
  EXPECT_NE(why.find("shady: reputation 0.05 is below 0.1"), std::string::npos) << why;
  EXPECT_NE(why.find("nowhere: no address known"), std::string::npos) << why;
  EXPECT_NE(why.find("ok: over its quota"), std::string::npos) << why;
  EXPECT_EQ(chooser.left_out().size(), 4u);
}

TEST(HolderChooserTest, ARefusedPeerIsReplacedFromTheSameSpread) {
  HolderChooser chooser({Peer("a1", "a", 0.9), Peer("a2", "a", 0.8), Peer("b1", "b", 0.7)}, 1, 0);
  std::optional<HolderCandidate> first = chooser.Next();
  ASSERT_EQ(first->did, "a1");
  chooser.Refused(*first, "unreachable");
  // a has no holder yet, so its next peer is as good as b's.
  std::optional<HolderCandidate> second = chooser.Next();
  ASSERT_EQ(second->did, "a2");
  chooser.Accepted(*second);
  EXPECT_EQ(chooser.Next()->did, "b1");
  EXPECT_FALSE(chooser.Next().has_value());
}

TEST(HolderChooserTest, DuplicatesAndEmptyDidsAreIgnored) {
  HolderChooser chooser({Peer("x", ""), Peer("x", ""), Peer("", "")}, 1, 0);
  EXPECT_EQ(chooser.available(), 1u);
}

}  // namespace
}  // namespace mesh::storage
