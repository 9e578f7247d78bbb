// Settlement: what a node's market does with credits and trust. It owns the node's credit
// ledger (ledger/ledger.h, <data_dir>/ledger.db) and its reputation book (<data_dir>/
// reputation.db) and turns market events into their entries: a job going to the market escrows
// its maximum price × replicas before anything is announced, each verified result pays its
// executor the bid price plus the network fee, the end of the job refunds the rest; executors
// gain reputation for verified results and lose it for failures, timeouts and (most) for being
// outvoted.
//
// The ledger is this node's own book: it holds the credits of the submitters that use this node
// and what this node owes the executors it paid (a signed, hash-chained IOU per payment; each
// executor's receipt is the other half). Settling between nodes' books is out of its scope.
//
// Thread-safe (the ledger and book lock themselves). Escrow, Pay, Close and Record write to disk:
// never call them under MeshService::mu_. The other calls are pure or read memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "mesh/common/clock.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/job/job_spec.h"
#include "mesh/job/verified_specs.h"
#include "mesh/ledger/ledger.h"
#include "mesh/ledger/reputation.h"
#include "mesh/market/market.h"
#include "mesh/market/market_types.h"
#include "mesh/node/trust_options.h"
#include "mesh/verify/verification_policy.h"

namespace mesh::node {

class Settlement {
 public:
  // Opens (creating) both files in `dir`; the ledger is signed with `key`. `key` and `clock`
  // must outlive the Settlement.
  static absl::StatusOr<std::unique_ptr<Settlement>> Open(const std::filesystem::path& dir,
                                                          const crypto::KeyPair& key,
                                                          const Clock& clock, TrustOptions options);

  // The job's verification (spec.verification, already validated by the spec parser).
  static verify::Verification VerificationOf(const job::JobSpec& spec);
  // Price limit per replica: the spec's max_price, or the default.
  int64_t MaxPrice(const job::JobSpec& spec) const;
  // Replicas the escrow covers: 1 (none, hash), k (replicate(k)), the adaptive policy's most.
  int EscrowReplicas(const job::JobSpec& spec) const;

  // Holds (MaxPrice + its network fee) × EscrowReplicas of the submitter's credits for a job
  // about to go to the market. FailedPrecondition, with the amounts and the fix, when short.
  // Repeating it for the same job is harmless. `payer`, when not empty, pays instead of the
  // spec's submitter (a split job's chunks are paid by the split job's submitter).
  absl::Status Escrow(const std::string& job_id, const job::JobSpec& spec,
                      const std::string& payer = "");
  // Returns the rest of the job's escrow; idempotent. A job never escrowed is fine.
  void Close(const std::string& job_id, std::string_view why);

  // The market's settling actions (market::Pay, market::Refund, market::RecordStanding; others
  // are ignored), in their order: the payments and refunds in one ledger transaction, the
  // reputation events in one write. A payment is the bid price plus the network fee, once per
  // (job, executor, assignment). Failures are logged with the job.
  void Settle(std::span<const market::Action> actions);
  static bool Settles(const market::Action& action);
  // nullopt for an executor without a track record (selection then uses its default).
  std::optional<double> ReputationOf(const std::string& executor) const;
  ledger::Reputation Reputation(const std::string& executor) const;

  ledger::Ledger& ledger() { return *ledger_; }
  ledger::ReputationBook& reputation() { return *reputation_; }
  const TrustOptions& options() const { return options_; }

 private:
  Settlement(TrustOptions options, std::unique_ptr<ledger::Ledger> ledger,
             std::unique_ptr<ledger::ReputationBook> reputation);

  const TrustOptions options_;
  std::unique_ptr<ledger::Ledger> ledger_;
  std::unique_ptr<ledger::ReputationBook> reputation_;
};

// The market core's view of reputation and credit terms (market::TrustView, pure reads): the
// settlement's books. Null without a settlement: the core then treats market jobs as free.
// Assigned specs are opened through `specs` when given (verified once per node).
std::unique_ptr<market::TrustView> MakeTrustView(Settlement* settlement,
                                                 job::VerifiedSpecs* specs = nullptr);

}  // namespace mesh::node
