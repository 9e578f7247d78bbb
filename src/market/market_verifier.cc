// Market, the submitter's judgement of delegated results: a receipt whose output was fetched
// and checked against its CID is a result; the job's verification decides whether it is enough
// (none, hash), or whether more replicas on other executors must agree with it (replicate(k):
// majority vote; adaptive: the executor's track record and the job's value decide, with random
// spot checks of trusted executors). Verified results are paid and raise their executors'
// standing; outvoted ones are not paid and cost standing most.
#include <algorithm>

#include "market_state.h"
#include "mesh/common/strings.h"
#include "mesh/verify/quorum.h"

namespace mesh::market {
namespace {

JobResult Completed(const Auction& a, const job::Receipt& receipt, absl::Time now) {
  JobResult job;
  job.job_id = a.ticket.id;
  job.outcome = receipt.outcome;
  job.exit_code = receipt.exit_code;
  job.fuel_used = receipt.fuel_used;
  job.output_cid = receipt.output_cid;
  job.files_cid = receipt.files_cid;
  job.report_json = receipt.report.dump();
  job.peer = receipt.executor;
  job.round = a.round;
  job.attempts = a.attempts;
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

void Market::State::Judge(Auction& a) {
  const AuctionResult latest = a.results.back();
  const std::string& executor = latest.receipt.executor;
  if (a.results.size() == 1 && a.verification.mode == verify::Mode::kAdaptive) {
    // The first result decides how much checking this job needs.
    verify::AdaptiveInput in;
    verify::AdaptivePolicy policy;
    if (trust != nullptr) {
      const ExecutorStanding standing = trust->Standing(executor);
      in.executor_reputation = standing.is_new ? 0 : standing.score;
      in.verified_results = standing.verified_results;
      in.job_value = trust->MaxPrice(a.ticket.spec);
      policy = trust->Adaptive();
    }
    const verify::AdaptivePlan plan = verify::PlanAdaptive(in, policy);
    a.replicas = plan.replicas;
    bool spot = false;
    if (plan.replicas <= 1) {
      spot = verify::ShouldSpotCheck(plan, rng->UniformDouble());
      if (spot) a.replicas = 2;
    }
    History(a.ticket.id, "verification",
            {{"mode", "adaptive"},
             {"executor", executor},
             {"replicas", a.replicas},
             {"spot_check", spot},
             {"reason", plan.reason}});
  }
  const absl::Time submitted = a.ticket.submitted_at;
  if (a.verification.mode == verify::Mode::kNone || a.verification.mode == verify::Mode::kHash ||
      a.replicas <= 1) {
    // The output's bytes were fetched by CID: the hash check is done.
    Emit(Finish{Completed(a, latest.receipt, now)});
    Emit(Observe{now - submitted});
    Settle(a, {latest}, {});
    auctions.erase(a.ticket.id);  // `a` is gone from here on
    WakeOldestWaiting();
    return;
  }

  std::vector<verify::Vote> votes;
  for (const AuctionResult& r : a.results) {
    // The output and the output tree together: replicas that wrote different files disagree.
    votes.push_back({r.receipt.executor, job::ResultKey(r.receipt), r.receipt.fuel_used});
  }
  verify::QuorumOptions quorum;
  quorum.replicas = a.replicas;
  quorum.max_replicas = std::max(a.replicas, trust != nullptr ? trust->MaxReplicas() : 9);
  absl::StatusOr<verify::QuorumDecision> decision = verify::DecideQuorum(votes, quorum);
  if (!decision.ok()) {
    FailDelegated(a,
                  mesh::StrCat("cannot count the replicas' votes: ", decision.status().message()));
    return;
  }
  nlohmann::json detail = {{"outcome", std::string(verify::QuorumOutcomeName(decision->outcome))},
                           {"votes", decision->votes_counted},
                           {"replicas", a.replicas},
                           {"reason", decision->reason}};
  switch (decision->outcome) {
    case verify::QuorumOutcome::kAgreed: {
      std::vector<AuctionResult> agreeing;
      for (const AuctionResult& r : a.results) {
        if (job::ResultKey(r.receipt) == decision->output) agreeing.push_back(r);
      }
      nlohmann::json outvoted = nlohmann::json::array();
      std::vector<std::string> losers;
      for (const verify::Dissent& d : decision->outvoted) {
        outvoted.push_back({{"executor", d.executor}, {"output", d.output}, {"reason", d.reason}});
        losers.push_back(d.executor);
      }
      detail["output_cid"] = agreeing.front().receipt.output_cid;
      if (!agreeing.front().receipt.files_cid.empty()) {
        detail["files_cid"] = agreeing.front().receipt.files_cid;
      }
      detail["agreeing"] = decision->agreeing;
      detail["outvoted"] = outvoted;
      History(a.ticket.id, "verified", detail);
      Bump(Counter::kOutvoted, "", static_cast<double>(losers.size()));
      // An executor outvoted is given no more jobs on the lease it won.
      for (const std::string& loser : losers) LoseHolder(a.lease, loser);
      Emit(Finish{Completed(a, agreeing.front().receipt, now)});
      Emit(Observe{now - submitted});
      Settle(a, agreeing, losers);
      auctions.erase(a.ticket.id);
      WakeOldestWaiting();
      return;
    }
    case verify::QuorumOutcome::kNeedMoreReplicas:
      if (trust != nullptr) {
        // Replicas beyond the escrow cannot be paid: then the job cannot be decided.
        const int64_t price = trust->MaxPrice(a.ticket.spec);
        const int64_t per_replica = price + trust->NetworkFee(price);
        const int64_t outstanding =
            a.replicas + decision->replicas_to_add - static_cast<int64_t>(a.results.size());
        int64_t spent = 0;  // owed to the results in hand if they end up agreeing
        for (const AuctionResult& r : a.results) {
          const int64_t paid = static_cast<int64_t>(r.price);
          spent += paid + trust->NetworkFee(paid);
        }
        // Nothing is paid before the vote decides, so the escrow is still what was held.
        const int64_t escrow_left = per_replica * trust->EscrowReplicas(a.ticket.spec) - spent;
        if (escrow_left < per_replica * outstanding) {
          History(a.ticket.id, "verification", detail);
          FailDelegated(
              a, mesh::StrCat("the replicas disagree (", decision->reason,
                              ") and the escrow left (", escrow_left, " credits) cannot pay ",
                              outstanding, " more; raise max_price or the replica count"));
          return;
        }
      }
      a.replicas += decision->replicas_to_add;
      detail["replicas"] = a.replicas;
      break;
    case verify::QuorumOutcome::kUndecidable:
      History(a.ticket.id, "verification", detail);
      FailDelegated(a, mesh::StrCat("no majority among the replicas: ", decision->reason));
      return;
    case verify::QuorumOutcome::kPending:
      break;
  }
  // Another replica, on an executor that has not run this job.
  History(a.ticket.id, "verification", detail);
  a.excluded.push_back(executor);
  a.executor.clear();
  a.stage = Auction::Stage::kWaiting;
  a.retry_at = now;
}

void Market::State::WakeOldestWaiting() {
  // A run just ended, so an executor has a slot: the job that has waited longest for a bid
  // asks first, before newer jobs take the slot.
  Auction* oldest = nullptr;
  for (auto& [id, a] : auctions) {
    if (a->stage != Auction::Stage::kWaiting || a->waits == 0) continue;
    if (oldest == nullptr || a->ticket.submitted_at < oldest->ticket.submitted_at ||
        (a->ticket.submitted_at == oldest->ticket.submitted_at && id < oldest->ticket.id)) {
      oldest = a.get();
    }
  }
  if (oldest != nullptr) oldest->retry_at = now;
}

void Market::State::Settle(const Auction& a, const std::vector<AuctionResult>& paid,
                           const std::vector<std::string>& outvoted) {
  // Emitted after the job's Finish (the actions run in order): the ledger's writes are off the
  // path of the result; the job reads as ended a moment before its credits are settled.
  for (const AuctionResult& r : paid) {
    Emit(Pay{a.ticket.id, r.receipt.executor, static_cast<int64_t>(r.price), r.assignment});
    Emit(RecordStanding{r.receipt.executor, Standing::kSuccess});
  }
  for (const std::string& loser : outvoted) Emit(RecordStanding{loser, Standing::kOutvoted});
  Emit(Refund{a.ticket.id, "the job is complete"});
}

}  // namespace mesh::market
