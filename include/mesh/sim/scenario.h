// Scenario: what meshsim simulates, read from a TOML file (sim/scenarios/*.toml) and overridden
// by the command line. Every key has a default, so an empty file is the baseline. An unknown
// key, a value of the wrong type or out of range, or an impossible combination is refused with
// the file, the key and the reason. Plain values; no I/O but ReadScenarioFile.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mesh/membership/membership.h"

namespace mesh::sim {

// A lognormal distribution by its median and sigma (of the underlying normal), clamped.
struct LogNormal {
  double median = 1;
  double sigma = 0;
  double min = 0, max = 1e300;
};

struct NetworkModel {
  std::vector<std::string> regions = {"local"};
  // One-way latency between regions (ms), a square matrix; the diagonal is within a region.
  std::vector<std::vector<double>> latency_ms = {{5}};
  double jitter_ms = 1;  // uniform extra one-way latency
  double loss = 0;       // a message is lost (its send fails after the timeout)
  double bandwidth_mbps = 1000;
  double timeout_ms = 2000;  // a send or fetch to a dead or cut peer fails after this
  struct Partition {
    double start_s = 0, end_s = 0;
    std::vector<std::string> regions;  // cut from every other region meanwhile
  };
  std::vector<Partition> partitions;
};

struct NodeModel {
  uint32_t min_slots = 1, max_slots = 4;  // uniform
  // Execution speed, in 10^9 fuel per second, uniform.
  double min_speed = 0.5, max_speed = 2.0;
  uint64_t base_fee = 1;
  uint64_t rate_per_gfuel = 10;
  uint32_t max_queue = 4;
  // What nodes offer: each capability and federation by the share of nodes that have it (each
  // node draws each one on its own).
  std::map<std::string, double> capabilities;
  std::map<std::string, double> federations;
};

struct Churn {         // per node per simulated hour
  double joins = 0;    // new nodes, as a fraction of the initial count
  double leaves = 0;   // graceful: the node drains and says goodbye
  double crashes = 0;  // sudden: runs and messages lost; back after `downtime_s` as a restart
  double downtime_s = 60;
};

struct Adversaries {        // fractions of the nodes
  double liars = 0;         // report a wrong output (a real blob they hold)
  double stallers = 0;      // run jobs, never deliver the receipt
  double crashers = 0;      // crash whenever a job starts running (and come back later)
  double underbidders = 0;  // bid the lowest price, take the job, never run it
  double free_riders = 0;   // submit but never execute (no slots)
  double total() const { return liars + stallers + crashers + underbidders + free_riders; }
};

struct Workload {
  std::string arrival = "poisson";  // poisson | burst | diurnal
  double rate_per_s = 50;           // mean arrivals per second across the network
  double burst_factor = 10;         // burst: the rate during a burst
  double burst_every_s = 60, burst_length_s = 5;
  double diurnal_period_s = 3600;  // diurnal: rate × (1 + 0.8 sin(2πt/period))
  LogNormal fuel{2e9, 1.0, 1e6, 1e12};
  LogNormal input_bytes{64 << 10, 1.0, 1, 256 << 20};
  uint64_t module_bytes = 200 << 10;
  uint32_t modules = 20;  // distinct modules jobs use
  // Verification modes and their shares ("none", "hash", "replicate(3)", "adaptive").
  std::map<std::string, double> verification = {{"hash", 1.0}};
  double wall_time_s = 600;
  // What jobs ask: each capability by the share of jobs that require it (drawn on its own), and
  // each federation by the share of jobs that run only in it (at most one per job).
  std::map<std::string, double> require;
  std::map<std::string, double> federation;
  // Split jobs: this share of the arrivals is split into `chunks` chunks (fuel and input shared
  // out evenly), submitted together as a split job's chunks are (one lease) and merged when all
  // succeeded; a failed chunk fails the job and cancels the rest, as the node's coordinator does.
  double split_share = 0;
  uint32_t split_chunks = 10;
};

struct Scenario {
  std::string name = "baseline";
  std::string file;  // where it came from, for messages
  uint64_t seed = 1;
  uint32_t nodes = 100;
  uint64_t jobs = 1000;
  // Submissions stop after `jobs`; the run ends when every job ended or at this simulated time.
  double max_sim_s = 24 * 3600;
  bool sign_messages = false;  // seal and verify every market message with Ed25519
  NetworkModel network;
  membership::MembershipOptions membership;
  NodeModel node;
  Churn churn;
  Adversaries adversaries;
  Workload workload;
  // Market knobs (market::MarketOptions).
  double bid_window_ms = 200;
  uint32_t enough_bids = 8;
  int announce_ttl = 2;
  double receipt_grace_s = 10;
  double lease_s = 5;  // jobs alike share their auction's winners this long (0: off)
  // Nodes of the passive view asked per round once a job's widest round found no bid (0: never).
  int beyond_fanout = 8;
  // Selection's weight on the bids' expected finish (from each node's speed), as meshd's
  // [mesh] finish_weight; 0 leaves speed out of the choice.
  double finish_weight = 0.2;
  // Whether the run samples series for the plots (utilisation and reputation over time).
  double sample_every_s = 60;
};

// Parses TOML text. `file` names it in errors ("churn.toml: churn.crashes: must be >= 0").
absl::StatusOr<Scenario> ParseScenario(std::string_view toml, std::string file);
absl::StatusOr<Scenario> ReadScenarioFile(const std::string& path);
// The checks that need the whole scenario (called by ParseScenario, and again after overrides).
absl::Status Validate(const Scenario& scenario);

// What a run of this scenario needs in memory at most, roughly (nodes, jobs in flight, events).
uint64_t EstimateBytes(const Scenario& scenario);

}  // namespace mesh::sim
