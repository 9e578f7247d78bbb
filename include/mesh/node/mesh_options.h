// MeshOptions: how a node takes part in the mesh — where it listens for peers, whom it meets
// first, what it offers, and the market's policies and timings. Part of NodeConfig ([mesh] in
// meshd.toml; --peer, --mesh-listen, --capability, --federation). Plain value type.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "mesh/sched/bidding.h"
#include "mesh/sched/selection.h"

namespace mesh::node {

inline constexpr int kDefaultMeshPort = 7421;

// Test-only misbehaviour of this node as an executor, so that verification, reassignment and
// refunds can be shown end to end (meshd --fault; see docs/architecture.md). Off by default.
struct FaultOptions {
  double lie_rate = 0;       // this fraction of assigned jobs get an altered output (0..1)
  bool stall = false;        // accept assignments, run them, never send a receipt
  bool die_mid_job = false;  // _exit(137) as soon as an assigned job starts running
  bool any() const { return lie_rate > 0 || stall || die_mid_job; }
};

// Parses one --fault: "lie" (every job), "lie=0.25", "stall" or "die"; adds it to `faults`.
absl::Status ParseFault(std::string_view text, FaultOptions& faults);

struct MeshOptions {
  bool enabled = true;
  // gRPC with mutual TLS; port 0 = any free port. Empty: 7421 on the API's host (port 0 if the
  // API's port is 0), decided by ResolveNodeConfig.
  std::string listen;
  std::string advertise;           // the address peers should dial; default: listen
  std::vector<std::string> peers;  // bootstrap addresses
  // DIDs; empty = any node with a valid certificate (anyone who makes a key may join).
  std::vector<std::string> allowed_peers;
  absl::Duration handshake_timeout = absl::Seconds(10);  // a TLS handshake's deadline
  int max_handshakes = 256;                              // TLS handshakes in progress at once
  // Blobs over TLS on a port of their own (net/grpc_transport.h); 0 = any free port.
  bool blob_stream = true;
  int blob_port = 0;
  std::vector<std::string> capabilities;
  std::vector<std::string> federations;
  // Membership (membership/membership.h): heartbeats go to the active view only; the passive
  // view refills it. 5 and 30 cover about 10^4 nodes (HyParView: log10(N) + 1).
  size_t active_view = 5;
  size_t passive_view = 30;
  absl::Duration heartbeat = absl::Seconds(1);
  absl::Duration dead_after = absl::Seconds(5);         // no heartbeat for this long: dead
  absl::Duration bid_window = absl::Milliseconds(200);  // the longest an auction stays open
  size_t enough_bids = 8;                               // ...or until this many bids are in
  absl::Duration no_bid_retry = absl::Seconds(1);       // first wait when nobody bid
  absl::Duration receipt_grace = absl::Seconds(10);     // over the job's wall-time limit
  absl::Duration max_message_age = absl::Minutes(2);    // older (or further ahead) is stale
  absl::Duration send_timeout = absl::Seconds(5);       // a peer message's deadline
  absl::Duration fetch_timeout = absl::Minutes(5);      // a blob fetch's deadline, whole blob
  int announce_ttl = 2;
  // Jobs like one just auctioned go to its ranked bidders without an auction of their own for
  // this long (market::MarketOptions::lease_ttl); zero: every job is auctioned.
  absl::Duration lease = absl::Seconds(5);
  // Passive-view peers asked per round once no neighbour bid on a job in its widest rounds
  // (market::MarketOptions::beyond_fanout); zero: never.
  int beyond_fanout = 8;
  sched::SelectionPolicy selection;
  sched::PricingPolicy pricing;
  sched::PlacementPolicy placement;
  sched::RetryPolicy retry;
  FaultOptions fault;
};

}  // namespace mesh::node
