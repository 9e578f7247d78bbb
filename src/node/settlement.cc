#include "mesh/node/settlement.h"

#include <algorithm>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "spdlog/spdlog.h"

namespace mesh::node {

absl::StatusOr<std::unique_ptr<Settlement>> Settlement::Open(const std::filesystem::path& dir,
                                                             const crypto::KeyPair& key,
                                                             const Clock& clock,
                                                             TrustOptions options) {
  if (options.default_max_price <= 0) {
    return absl::InvalidArgumentError("trust.default_max_price must be a positive credit amount");
  }
  MESH_RETURN_IF_ERROR(verify::ValidateAdaptivePolicy(options.adaptive));
  MESH_RETURN_IF_ERROR(ledger::Validate(options.reputation));
  ledger::LedgerOptions lo;
  lo.regen = options.regen;
  lo.network_fee_bps = options.network_fee_bps;
  lo.network_fee_flat = options.network_fee_flat;
  MESH_ASSIGN_OR_RETURN(std::unique_ptr<ledger::Ledger> ledger,
                        ledger::Ledger::Open(dir / "ledger.db", &key, clock, lo));
  MESH_ASSIGN_OR_RETURN(
      std::unique_ptr<ledger::ReputationBook> book,
      ledger::ReputationBook::Open(dir / "reputation.db", clock, options.reputation));
  return std::unique_ptr<Settlement>(
      new Settlement(std::move(options), std::move(ledger), std::move(book)));
}

Settlement::Settlement(TrustOptions options, std::unique_ptr<ledger::Ledger> ledger,
                       std::unique_ptr<ledger::ReputationBook> reputation)
    : options_(std::move(options)),
      ledger_(std::move(ledger)),
      reputation_(std::move(reputation)) {}

verify::Verification Settlement::VerificationOf(const job::JobSpec& spec) {
  absl::StatusOr<verify::Verification> v = verify::ParseVerification(spec.verification);
  // The spec parser refused anything else; a spec built in code with a typo gets the default.
  return v.ok() ? *v : verify::Verification{verify::Mode::kHash, 1};
}

int64_t Settlement::MaxPrice(const job::JobSpec& spec) const {
  return market::MaxPriceOf(spec, options_.default_max_price);
}

int Settlement::EscrowReplicas(const job::JobSpec& spec) const {
  return verify::EscrowReplicas(VerificationOf(spec), options_.adaptive);
}

absl::Status Settlement::Escrow(const std::string& job_id, const job::JobSpec& spec,
                                const std::string& payer) {
  const int64_t price = MaxPrice(spec);
  ledger::EscrowRequest request;
  request.job_id = job_id;
  request.submitter = payer.empty() ? spec.submitter : payer;
  // The fee is paid on top of the bid price, out of the same escrow.
  request.max_price = price + ledger_->NetworkFee(price);
  request.replicas = EscrowReplicas(spec);
  if (options_.submit_fee > 0) {
    request.submit_fee = ledger::SubmitFee(options_.submit_fee, Reputation(request.submitter));
  }
  absl::StatusOr<ledger::Posted> posted = ledger_->Escrow(request);
  return posted.status();
}

void Settlement::Close(const std::string& job_id, std::string_view why) {
  absl::StatusOr<ledger::Posted> refunded = ledger_->Refund(job_id, why);
  if (!refunded.ok() && !absl::IsNotFound(refunded.status())) {
    spdlog::error("job {}: cannot refund its escrow: {}", job_id, refunded.status().ToString());
  }
}

namespace {

ledger::ReputationEvent EventOf(market::Standing s) {
  switch (s) {
    case market::Standing::kSuccess:
      return ledger::ReputationEvent::kSuccess;
    case market::Standing::kFailure:
      return ledger::ReputationEvent::kFailure;
    case market::Standing::kTimeout:
      return ledger::ReputationEvent::kTimeout;
    case market::Standing::kOutvoted:
      return ledger::ReputationEvent::kOutvoted;
  }
  return ledger::ReputationEvent::kFailure;
}

}  // namespace

bool Settlement::Settles(const market::Action& action) {
  return std::holds_alternative<market::Pay>(action) ||
         std::holds_alternative<market::Refund>(action) ||
         std::holds_alternative<market::RecordStanding>(action);
}

void Settlement::Settle(std::span<const market::Action> actions) {
  std::vector<ledger::SettleOrder> orders;
  std::vector<std::pair<std::string, ledger::ReputationEvent>> events;
  for (const market::Action& action : actions) {
    if (const auto* pay = std::get_if<market::Pay>(&action)) {
      orders.push_back(ledger::PayOrder{pay->job_id, pay->executor, pay->price,
                                        ledger_->NetworkFee(pay->price), pay->assignment});
    } else if (const auto* refund = std::get_if<market::Refund>(&action)) {
      orders.push_back(ledger::RefundOrder{refund->job_id, refund->why});
    } else if (const auto* standing = std::get_if<market::RecordStanding>(&action)) {
      // RecordAll refuses a batch with an empty DID whole: one bad event must not lose the rest.
      if (standing->executor.empty()) {
        spdlog::warn("reputation event without an executor DID; ignored");
        continue;
      }
      events.emplace_back(standing->executor, EventOf(standing->event));
    }
  }
  const std::vector<absl::StatusOr<ledger::Posted>> results = ledger_->Settle(orders);
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok()) continue;
    if (const auto* pay = std::get_if<ledger::PayOrder>(&orders[i])) {
      spdlog::error("job {}: cannot pay {} its {} credits: {}", pay->job_id, pay->executor,
                    pay->amount, results[i].status().ToString());
    } else if (!absl::IsNotFound(results[i].status())) {  // a job never escrowed is fine
      spdlog::error("job {}: cannot refund its escrow: {}",
                    std::get<ledger::RefundOrder>(orders[i]).job_id,
                    results[i].status().ToString());
    }
  }
  if (absl::Status recorded = reputation_->RecordAll(events); !recorded.ok()) {
    spdlog::warn("reputation of {} executor(s): {}", events.size(), recorded.ToString());
  }
}

std::optional<double> Settlement::ReputationOf(const std::string& executor) const {
  const ledger::Reputation r = reputation_->Get(executor);
  if (r.is_new()) return std::nullopt;
  return r.score;
}

ledger::Reputation Settlement::Reputation(const std::string& executor) const {
  return reputation_->Get(executor);
}

namespace {

class SettlementTrust final : public market::TrustView {
 public:
  SettlementTrust(Settlement* settlement, job::VerifiedSpecs* specs)
      : s_(settlement), specs_(specs) {}
  market::ExecutorStanding Standing(const std::string& did) const override {
    const ledger::Reputation r = s_->Reputation(did);
    return {r.is_new(), r.score, static_cast<uint64_t>(r.successes)};
  }
  int64_t MaxPrice(const job::JobSpec& spec) const override { return s_->MaxPrice(spec); }
  int64_t NetworkFee(int64_t price) const override { return s_->ledger().NetworkFee(price); }
  int EscrowReplicas(const job::JobSpec& spec) const override { return s_->EscrowReplicas(spec); }
  verify::AdaptivePolicy Adaptive() const override { return s_->options().adaptive; }
  int MaxReplicas() const override { return s_->options().max_replicas; }
  absl::StatusOr<job::SignedJobSpec> OpenSpec(const std::string& envelope,
                                              const std::string& id) const override {
    (void)id;  // the core checks the id against the spec it gets
    return job::OpenSpecThrough(specs_, envelope);
  }

 private:
  Settlement* const s_;
  job::VerifiedSpecs* const specs_;
};

}  // namespace

std::unique_ptr<market::TrustView> MakeTrustView(Settlement* settlement,
                                                 job::VerifiedSpecs* specs) {
  // No settlement: the core treats market jobs as free (no escrow limits, no reputation).
  if (settlement == nullptr) return nullptr;
  return std::make_unique<SettlementTrust>(settlement, specs);
}

}  // namespace mesh::node
