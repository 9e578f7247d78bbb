#include "mesh/node/gossip_wire.h"

#include <algorithm>
#include <type_traits>

#include "mesh/common/check.h"
#include "mesh/common/strings.h"

namespace mesh::node {
namespace {

job::PeerInfo InfoOf(const membership::Contact& c) { return {c.id.str(), c.address}; }
membership::Contact ContactOf(const job::PeerInfo& p) { return {p.did, p.address}; }

std::vector<job::PeerInfo> InfosOf(const std::vector<membership::Contact>& contacts) {
  std::vector<job::PeerInfo> out;
  out.reserve(contacts.size());
  for (const membership::Contact& c : contacts) out.push_back(InfoOf(c));
  return out;
}

std::vector<membership::Contact> ContactsOf(const std::vector<job::PeerInfo>& peers) {
  std::vector<membership::Contact> out;
  out.reserve(peers.size());
  for (const job::PeerInfo& p : peers) out.push_back(ContactOf(p));
  return out;
}

// A walk's hops as the wire carries them (at most kMaxGossipTtl: a peer refuses more).
uint32_t WireTtl(int ttl) { return uint32_t(std::clamp<int>(ttl, 0, int(job::kMaxGossipTtl))); }

}  // namespace

job::Gossip GossipOf(const membership::Message& message, const membership::Contact& self) {
  job::Gossip g;
  g.node = self.id.str();
  g.address = self.address;
  g.kind = std::string(membership::MessageName(message));
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, membership::ForwardJoin>) {
          g.subject = InfoOf(m.joiner);
          g.ttl = WireTtl(m.ttl);
        } else if constexpr (std::is_same_v<T, membership::Neighbor>) {
          g.flag = m.high_priority;
        } else if constexpr (std::is_same_v<T, membership::NeighborReply>) {
          g.flag = m.accepted;
        } else if constexpr (std::is_same_v<T, membership::Shuffle>) {
          g.subject = InfoOf(m.origin);
          g.ttl = WireTtl(m.ttl);
          g.sample = InfosOf(m.sample);
        } else if constexpr (std::is_same_v<T, membership::ShuffleReply>) {
          g.sample = InfosOf(m.sample);
        } else if constexpr (std::is_same_v<T, membership::Ping>) {
          MESH_CHECK(false);  // a Ping travels as a Heartbeat
        }
      },
      message);
  return g;
}

absl::StatusOr<membership::Message> MembershipMessageOf(const job::Gossip& g) {
  auto needs_subject = [&]() -> absl::Status {
    if (g.subject.did.empty()) {
      return absl::InvalidArgumentError(mesh::StrCat("a ", g.kind, " gossip needs a subject"));
    }
    return absl::OkStatus();
  };
  if (g.kind == "join") return membership::Join{};
  if (g.kind == "forward_join") {
    if (absl::Status s = needs_subject(); !s.ok()) return s;
    return membership::ForwardJoin{ContactOf(g.subject), int(g.ttl)};
  }
  if (g.kind == "neighbor") return membership::Neighbor{g.flag};
  if (g.kind == "neighbor_reply") return membership::NeighborReply{g.flag};
  if (g.kind == "disconnect") return membership::Disconnect{};
  if (g.kind == "shuffle") {
    if (absl::Status s = needs_subject(); !s.ok()) return s;
    return membership::Shuffle{ContactOf(g.subject), int(g.ttl), ContactsOf(g.sample)};
  }
  if (g.kind == "shuffle_reply") return membership::ShuffleReply{ContactsOf(g.sample)};
  return absl::InvalidArgumentError(mesh::StrCat("unknown gossip kind '", g.kind, "'"));
}

membership::Ping PingOf(const job::Heartbeat& heartbeat) {
  return membership::Ping{ContactsOf(heartbeat.peers)};
}

}  // namespace mesh::node
