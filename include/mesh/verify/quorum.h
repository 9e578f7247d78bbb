// Majority vote over the results of a replicated job (verification replicate(k) and adaptive).
// Each replica's executor reports the CID of its output and the fuel it measured; DecideQuorum
// says whether an output has won, whether to wait for more votes, or how many replicas to add.
//
// A majority is strictly more than half of the replicas: replicate(3) completes at 2 agreeing
// votes, replicate(2) needs both, and a 1-1 split can only be broken by adding a replica.
// Executions are deterministic (the engines are bit-identical and fuel is counted by the same
// instrumentation), so honest executors agree on the output and on the fuel; disagreement means
// a faulty or lying executor.
//
// Pure functions on value types; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mesh::verify {

struct Vote {
  std::string executor;  // DID of the executor that ran the replica
  std::string output;    // CID of its output (opaque here: compared as text)
  uint64_t fuel = 0;     // fuel its receipt reports
};

struct QuorumOptions {
  int replicas = 3;      // k: replicas launched so far (grows as kNeedMoreReplicas is obeyed)
  int max_replicas = 9;  // never ask for more than this in total
};

enum class QuorumOutcome {
  kAgreed,            // an output has a strict majority of max(k, votes)
  kPending,           // a majority is still possible with the votes outstanding
  kNeedMoreReplicas,  // no output can reach a majority of k: add replicas
  kUndecidable,       // ... and adding enough would exceed max_replicas: the job fails
};
std::string_view QuorumOutcomeName(QuorumOutcome outcome);  // "agreed", "pending", ...

// An executor whose vote lost or was set aside, and why ("output bafyB outvoted 2 to 1 by
// bafyA"). The ledger turns these into reputation penalties.
struct Dissent {
  std::string executor;
  std::string output;
  uint64_t fuel = 0;
  std::string reason;
};

struct QuorumDecision {
  QuorumOutcome outcome = QuorumOutcome::kPending;
  // kAgreed: the winning output and the fuel to pay for: the value most of its voters report
  // (on a tie, the lowest: the submitter does not pay for a claim the quorum does not back).
  std::string output;
  uint64_t fuel = 0;
  // kAgreed: executors that voted for `output`, sorted. Those whose fuel differs from `fuel` are
  // here too (their output is right and it counts) and also in fuel_mismatch.
  std::vector<std::string> agreeing;
  // kAgreed: executors that voted for another output, sorted by executor.
  std::vector<Dissent> outvoted;
  // kAgreed: agreeing executors that reported a fuel other than `fuel`, sorted. Honest executors
  // measure the same fuel, so this is a fault or an overclaim: paid at `fuel`, flagged for the
  // ledger. Their vote still counts: the output, not the fuel, is what the quorum verifies.
  std::vector<Dissent> fuel_mismatch;
  // Second and later votes of an executor (the first counts), in input order.
  std::vector<Dissent> duplicates;
  int votes_counted = 0;      // distinct executors
  int more_votes_needed = 0;  // kPending: agreeing votes the leading output still needs
  int replicas_to_add = 0;    // kNeedMoreReplicas: the fewest that can produce a majority
  std::string reason;         // one line for logs and the job's history
};

// InvalidArgument for options out of range (replicas < 1, max_replicas < replicas) or a vote
// without an executor or an output. Votes beyond k are counted (the majority is then of their
// number). A replica that failed without a result is not a vote: launch a replacement.
absl::StatusOr<QuorumDecision> DecideQuorum(const std::vector<Vote>& votes,
                                            const QuorumOptions& options);

}  // namespace mesh::verify
