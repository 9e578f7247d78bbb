// The membership protocol on the wire: membership::Message ↔ the signed job::Gossip (and the
// Heartbeat, which is membership's Ping). The shell signs what GossipOf gives; what a peer sent
// is checked here (a walk needs its subject) before the core sees it.
#pragma once

#include "absl/status/statusor.h"
#include "mesh/job/market.h"
#include "mesh/membership/membership.h"

namespace mesh::node {

// `message` must not be a Ping (that is a job::Heartbeat). `self` is the sender.
job::Gossip GossipOf(const membership::Message& message, const membership::Contact& self);
// InvalidArgument for a kind without what it needs (a forward_join or shuffle with no subject).
absl::StatusOr<membership::Message> MembershipMessageOf(const job::Gossip& gossip);
// The ping a peer's heartbeat is: it lists the sender's active view.
membership::Ping PingOf(const job::Heartbeat& heartbeat);

}  // namespace mesh::node
