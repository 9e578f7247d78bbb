// MeshService, the submitter's judgement of delegated results: a receipt whose output was
// fetched and checked against its CID is a result; the job's verification decides whether it
// is enough (none, hash), or whether more replicas on other executors must agree with it
// (replicate(k): majority vote; adaptive: the executor's track record and the job's value
// decide, with random spot checks of trusted executors). Verified results are paid and raise
// their executors' reputation; outvoted ones are not paid and cost reputation most.
#include <algorithm>

#include "mesh/common/strings.h"
#include "mesh/node/mesh_service.h"
#include "mesh/node/settlement.h"
#include "mesh/verify/quorum.h"
#include "mesh_internal.h"
#include "spdlog/spdlog.h"

namespace mesh::node {
namespace {

JobRecord CompletedJob(const JobRecord& base, const job::Receipt& receipt, absl::Time now) {
  JobRecord job = base;
  job.outcome = receipt.outcome;
  job.exit_code = receipt.exit_code;
  job.fuel_used = receipt.fuel_used;
  job.output_cid = receipt.output_cid;
  job.report_json = receipt.report.dump();
  job.peer = receipt.executor;
  job.started_at = absl::FromUnixMillis(receipt.started_at_ms);
  job.finished_at = now;
  if (receipt.outcome == "ok" && receipt.exit_code == 0) {
    job.state = job::JobState::kSucceeded;
  } else {
    job.state = job::JobState::kFailed;
    job.reason =
        receipt.outcome == "ok"
            ? mesh::StrCat("the module exited with status ", receipt.exit_code)
            : mesh::StrCat(receipt.outcome, ": ", receipt.report.value("message", std::string()));
  }
  return job;
}

}  // namespace

std::optional<JobRecord> MeshService::Judge(Auction& a, absl::Time now) {
  Settlement* const settlement = env_.settlement;
  const AuctionResult& latest = a.results.back();
  const std::string& executor = latest.receipt.executor;
  if (a.results.size() == 1 && a.verification.mode == verify::Mode::kAdaptive) {
    // The first result decides how much checking this job needs.
    verify::AdaptiveInput in;
    if (settlement != nullptr) {
      const ledger::Reputation r = settlement->Reputation(executor);
      in.executor_reputation = r.is_new() ? 0 : r.score;
      in.verified_results = static_cast<uint64_t>(r.successes);
      in.job_value = settlement->MaxPrice(a.job.spec);
    }
    const verify::AdaptivePolicy policy =
        settlement != nullptr ? settlement->options().adaptive : verify::AdaptivePolicy();
    const verify::AdaptivePlan plan = verify::PlanAdaptive(in, policy);
    a.replicas = plan.replicas;
    bool spot = false;
    if (plan.replicas <= 1) {
      spot = verify::ShouldSpotCheck(plan, env_.rng->UniformDouble());
      if (spot) a.replicas = 2;
    }
    History(a.job.id, "verification",
            {{"mode", "adaptive"},
             {"executor", executor},
             {"replicas", a.replicas},
             {"spot_check", spot},
             {"reason", plan.reason}});
  }
  if (a.verification.mode == verify::Mode::kNone || a.verification.mode == verify::Mode::kHash ||
      a.replicas <= 1) {
    // The output's bytes were fetched by CID: the hash check is done.
    Settle(a, {latest}, {});
    JobRecord job = CompletedJob(a.job, latest.receipt, now);
    auctions_.erase(job.id);  // `a` is gone from here on
    WakeOldestWaiting(now);
    return job;
  }

  std::vector<verify::Vote> votes;
  for (const AuctionResult& r : a.results) {
    votes.push_back({r.receipt.executor, r.receipt.output_cid, r.receipt.fuel_used});
  }
  verify::QuorumOptions options;
  options.replicas = a.replicas;
  options.max_replicas =
      std::max(a.replicas, settlement != nullptr ? settlement->options().max_replicas : 9);
  absl::StatusOr<verify::QuorumDecision> decision = verify::DecideQuorum(votes, options);
  if (!decision.ok()) {
    FailDelegated(a,
                  mesh::StrCat("cannot count the replicas' votes: ", decision.status().message()));
    return std::nullopt;
  }
  nlohmann::json detail = {{"outcome", std::string(verify::QuorumOutcomeName(decision->outcome))},
                           {"votes", decision->votes_counted},
                           {"replicas", a.replicas},
                           {"reason", decision->reason}};
  switch (decision->outcome) {
    case verify::QuorumOutcome::kAgreed: {
      std::vector<AuctionResult> agreeing;
      const AuctionResult* chosen = nullptr;
      for (const AuctionResult& r : a.results) {
        if (r.receipt.output_cid != decision->output) continue;
        agreeing.push_back(r);
        if (chosen == nullptr) chosen = &r;
      }
      nlohmann::json outvoted = nlohmann::json::array();
      std::vector<std::string> losers;
      for (const verify::Dissent& d : decision->outvoted) {
        outvoted.push_back({{"executor", d.executor}, {"output", d.output}, {"reason", d.reason}});
        losers.push_back(d.executor);
      }
      detail["output_cid"] = decision->output;
      detail["agreeing"] = decision->agreeing;
      detail["outvoted"] = outvoted;
      History(a.job.id, "verified", detail);
      metrics_->outvoted->Inc(static_cast<double>(losers.size()));
      Settle(a, agreeing, losers);
      JobRecord job = CompletedJob(a.job, chosen->receipt, now);
      auctions_.erase(job.id);
      WakeOldestWaiting(now);
      return job;
    }
    case verify::QuorumOutcome::kNeedMoreReplicas:
      if (settlement != nullptr) {
        // Replicas beyond the escrow cannot be paid: then the job cannot be decided.
        const int64_t price = settlement->MaxPrice(a.job.spec);
        const int64_t per_replica = price + settlement->ledger().NetworkFee(price);
        const int64_t outstanding =
            a.replicas + decision->replicas_to_add - static_cast<int64_t>(a.results.size());
        int64_t spent = 0;  // owed to the results in hand if they end up agreeing
        for (const AuctionResult& r : a.results) {
          const int64_t paid = static_cast<int64_t>(r.price);
          spent += paid + settlement->ledger().NetworkFee(paid);
        }
        // Nothing is paid before the vote decides, so the escrow is still what Escrow() held.
        const int64_t escrow_left = per_replica * settlement->EscrowReplicas(a.job.spec) - spent;
        if (escrow_left < per_replica * outstanding) {
          History(a.job.id, "verification", detail);
          FailDelegated(
              a, mesh::StrCat("the replicas disagree (", decision->reason,
                              ") and the escrow left (", escrow_left, " credits) cannot pay ",
                              outstanding, " more; raise max_price or the replica count"));
          return std::nullopt;
        }
      }
      a.replicas += decision->replicas_to_add;
      detail["replicas"] = a.replicas;
      break;
    case verify::QuorumOutcome::kUndecidable:
      History(a.job.id, "verification", detail);
      FailDelegated(a, mesh::StrCat("no majority among the replicas: ", decision->reason));
      return std::nullopt;
    case verify::QuorumOutcome::kPending:
      break;
  }
  // Another replica, on an executor that has not run this job.
  History(a.job.id, "verification", detail);
  a.excluded.push_back(executor);
  a.executor.clear();
  a.stage = Auction::Stage::kWaiting;
  a.retry_at = now;
  return std::nullopt;
}

void MeshService::WakeOldestWaiting(absl::Time now) {
  // A run just ended, so an executor has a slot: the job that has waited longest for a bid
  // asks first, before newer jobs take the slot.
  Auction* oldest = nullptr;
  for (auto& [id, a] : auctions_) {
    if (a->stage != Auction::Stage::kWaiting || a->waits == 0) continue;
    if (oldest == nullptr || a->job.submitted_at < oldest->job.submitted_at) oldest = a.get();
  }
  if (oldest != nullptr) oldest->retry_at = now;
}

void MeshService::Settle(Auction& a, std::vector<AuctionResult> paid,
                         std::vector<std::string> outvoted) {
  Settlement* const settlement = env_.settlement;
  if (settlement == nullptr) return;
  const std::string id = a.job.id;
  Defer([settlement, id, paid = std::move(paid), outvoted = std::move(outvoted)] {
    for (const AuctionResult& r : paid) {
      absl::StatusOr<ledger::Posted> posted =
          settlement->Pay(id, r.receipt.executor, static_cast<int64_t>(r.price), r.assignment);
      if (!posted.ok()) {
        spdlog::error("job {}: cannot pay {} its {} credits: {}", id, r.receipt.executor, r.price,
                      posted.status().ToString());
      }
      settlement->Record(r.receipt.executor, ledger::ReputationEvent::kSuccess);
    }
    for (const std::string& loser : outvoted) {
      settlement->Record(loser, ledger::ReputationEvent::kOutvoted);
    }
    settlement->Close(id, "the job is complete");
  });
}

}  // namespace mesh::node
