// Simulator: meshsim's engine. One process, one thread, a discrete-event loop on virtual time;
// a run is a pure function of its Scenario (seed included).
//
// Each simulated node is the production code that decides: market::Market (bids, auctions,
// verification, settlement decisions), membership::Membership (bounded partial views), its own
// ledger::ReputationScores, with escrows and payments posted to one ledger::LedgerBook. What the
// node shell does with I/O is played here instead: messages travel a modelled network (latency
// per pair of regions, jitter, loss, partitions, bandwidth for blobs), a job "runs" for its fuel
// divided by the node's speed on one of its slots, and nodes join, leave and crash at the
// scenario's rates. Adversaries differ only in what their shell does (a liar's output, a
// staller's withheld receipt...): their market core is the honest one, as it would be for a
// real attacker who runs our binary with a patched shell.
//
// Not thread-safe. Memory grows with the nodes and the jobs in flight (EstimateBytes).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mesh/sim/scenario.h"
#include "nlohmann/json.hpp"

namespace mesh::sim {

enum class Role { kHonest, kLiar, kStaller, kCrasher, kUnderbidder, kFreeRider };
std::string_view RoleName(Role role);

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};

// The jobs that asked for a capability or a federation (workload.require / .federation).
struct RequirementJobs {
  uint64_t submitted = 0, completed = 0, failed = 0;
  uint64_t misplaced = 0;  // completed by an executor without what the job asked (must be 0)
  Percentiles latency_ms;
};

// Split jobs (Workload::split_share): each is one arrival, run as chunk jobs on one lease.
struct SplitJobs {
  uint64_t submitted = 0, completed = 0, failed = 0;
  uint64_t chunks = 0;          // chunk jobs handed to the market
  uint64_t chunk_auctions = 0;  // auction rounds opened for chunks (the rest went on leases)
  double executors_mean = 0;    // distinct executors per completed split job
  Percentiles latency_ms;       // submitted -> last chunk's verified result
};

// What a run found. Everything here is a function of the scenario: ToJson(summary) is
// byte-identical for the same scenario and seed (wall-clock figures are in RunStats).
struct Summary {
  std::string scenario;
  uint64_t seed = 0;
  bool signed_messages = false;
  uint32_t nodes = 0;         // at the start
  uint32_t nodes_joined = 0;  // by churn
  uint32_t nodes_alive_end = 0;
  uint64_t crashes = 0, leaves = 0;
  double sim_seconds = 0;
  uint64_t events = 0;

  uint64_t jobs_submitted = 0;
  uint64_t jobs_completed = 0;          // ended succeeded
  uint64_t jobs_failed = 0;             // ended otherwise (failed, cancelled)
  uint64_t jobs_waiting = 0;            // not ended when the run stopped
  uint64_t jobs_completed_twice = 0;    // the submitter recorded more than one end
  uint64_t wrong_results_accepted = 0;  // succeeded with an output no honest executor made
  std::map<std::string, uint64_t> failure_reasons;  // the first words of each failed job's reason
  // By what the jobs asked ("capability:gpu", "federation:lab", both joined by "+").
  std::map<std::string, RequirementJobs> by_requirement;
  SplitJobs split;  // counted in the jobs above too, each once (its chunks are not)

  Percentiles latency_ms;              // submitted -> ended, ended jobs
  std::vector<double> latency_cdf_ms;  // 101 points: the 0th..100th percentile

  uint64_t market_messages = 0, membership_messages = 0;
  // Announcements sent beyond a submitter's active view (jobs no neighbour bid on), one per node.
  uint64_t announcements_beyond = 0;
  std::map<std::string, uint64_t> messages_by_type;
  double messages_per_job = 0;  // market messages per submitted job
  double membership_messages_per_node_s = 0;
  double blob_bytes_per_job = 0;  // fetched blob bytes (modules, inputs, outputs)
  // Bytes of the market messages' signed envelopes per job: with sign_messages only (unsigned
  // runs carry stand-ins, and encoding every message to count it would cost a large run dearly).
  double message_bytes_per_job = 0;
  double utilisation = 0;  // busy slot-seconds / slot-seconds of live nodes

  int64_t credits_paid = 0;
  std::map<std::string, int64_t> credits_paid_by_role;  // honest, liar, ...
  int64_t credits_paid_to_adversaries = 0;
  double adversary_share_of_credits = 0;
  std::map<std::string, uint64_t> nodes_by_role;
  // Replicas assigned to executors (RunHere), by role; and how evenly the honest executors got
  // theirs: the busiest's and the idlest's count over the honest mean (1 and 1: perfectly even).
  std::map<std::string, uint64_t> assignments_by_role;
  double honest_assignments_max_over_mean = 0, honest_assignments_min_over_mean = 0;

  // Series sampled every scenario.sample_every_s: time, utilisation, and the mean reputation
  // (in the network-wide view of every RecordStanding) of each role with evidence.
  std::vector<double> series_t, series_utilisation;
  std::map<std::string, std::vector<double>> series_reputation;

  double mean_active_view = 0, max_active_view = 0, mean_passive_view = 0;
};

nlohmann::json ToJson(const Summary& summary);
// The readable summary meshsim prints.
std::string ToText(const Summary& summary);

// Figures about the run itself (not part of the summary: they depend on the machine).
struct RunStats {
  double wall_seconds = 0;
  double events_per_second = 0;
  uint64_t peak_rss_bytes = 0;
};

class Simulator {
 public:
  explicit Simulator(Scenario scenario);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Runs the scenario to its end (every job ended, or max_sim_s) and summarises it.
  Summary Run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mesh::sim
