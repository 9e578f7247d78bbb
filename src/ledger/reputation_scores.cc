#include "mesh/ledger/reputation_scores.h"

#include <algorithm>
#include <cmath>

#include "mesh/common/strings.h"

namespace mesh::ledger {
namespace {

double WeightOf(const ReputationOptions& o, ReputationEvent e) {
  switch (e) {
    case ReputationEvent::kSuccess:
      return o.success_weight;
    case ReputationEvent::kFailure:
      return o.failure_weight;
    case ReputationEvent::kTimeout:
      return o.timeout_weight;
    case ReputationEvent::kOutvoted:
      return o.outvoted_weight;
  }
  return 0;
}

}  // namespace

std::string_view ReputationEventName(ReputationEvent event) {
  switch (event) {
    case ReputationEvent::kSuccess:
      return "success";
    case ReputationEvent::kFailure:
      return "failure";
    case ReputationEvent::kTimeout:
      return "timeout";
    case ReputationEvent::kOutvoted:
      return "outvoted";
  }
  return "unknown";
}

absl::Status Validate(const ReputationOptions& o) {
  if (!(o.prior >= 0 && o.prior <= 1)) {
    return absl::InvalidArgumentError(
        mesh::StrCat("reputation prior must be in [0, 1], not ", o.prior));
  }
  for (double w :
       {o.prior_weight, o.success_weight, o.failure_weight, o.timeout_weight, o.outvoted_weight}) {
    if (!std::isfinite(w) || w <= 0) {
      return absl::InvalidArgumentError(
          mesh::StrCat("reputation weights must be finite and > 0, not ", w));
    }
  }
  if (o.half_life <= absl::ZeroDuration() || o.half_life == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError("reputation half-life must be positive and finite");
  }
  return absl::OkStatus();
}

ReputationScores::ReputationScores(ReputationOptions options) : options_(options) {}

ReputationState ReputationScores::DecayedTo(const ReputationState& s, absl::Time now) const {
  ReputationState out = s;
  if (s.at != absl::InfinitePast() && now > s.at) {
    const double f = std::exp2(-absl::FDivDuration(now - s.at, options_.half_life));
    out.good *= f;
    out.bad *= f;
  }
  // A clock that stepped back does not undo decay: keep the later time.
  out.at = std::max(s.at, now);
  return out;
}

Reputation ReputationScores::View(std::string_view did, const ReputationState& s,
                                  absl::Time now) const {
  const ReputationState d = DecayedTo(s, now);
  Reputation r;
  r.did = std::string(did);
  const double k = options_.prior_weight;
  r.score = std::clamp((options_.prior * k + d.good) / (k + d.good + d.bad), 0.0, 1.0);
  r.evidence = d.good + d.bad;
  r.successes = s.counts[0];
  r.failures = s.counts[1];
  r.timeouts = s.counts[2];
  r.outvoted = s.counts[3];
  r.updated = s.updated;
  return r;
}

ReputationState ReputationScores::After(std::string_view did, ReputationEvent event,
                                        absl::Time now) const {
  const ReputationState* current = Find(did);
  return Next(current == nullptr ? ReputationState{} : *current, event, now);
}

const ReputationState* ReputationScores::Find(std::string_view did) const {
  auto it = states_.find(mesh::ToAbsl(did));
  return it == states_.end() ? nullptr : &it->second;
}

ReputationState ReputationScores::Next(const ReputationState& current, ReputationEvent event,
                                       absl::Time now) const {
  ReputationState st = DecayedTo(current, now);
  (event == ReputationEvent::kSuccess ? st.good : st.bad) += WeightOf(options_, event);
  ++st.counts[static_cast<int>(event)];
  st.updated = now;
  return st;
}

void ReputationScores::Set(std::string_view did, const ReputationState& state) {
  states_[std::string(did)] = state;
}

Reputation ReputationScores::Record(std::string_view did, ReputationEvent event, absl::Time now) {
  const ReputationState st = After(did, event, now);
  Set(did, st);
  return View(did, st, now);
}

Reputation ReputationScores::Get(std::string_view did, absl::Time now) const {
  auto it = states_.find(mesh::ToAbsl(did));
  return View(did, it == states_.end() ? ReputationState{} : it->second, now);
}

absl::flat_hash_map<std::string, double> ReputationScores::Scores(absl::Time now) const {
  absl::flat_hash_map<std::string, double> out;
  for (const auto& [did, st] : states_) out[did] = View(did, st, now).score;
  return out;
}

std::vector<Reputation> ReputationScores::All(absl::Time now) const {
  std::vector<Reputation> out;
  for (const auto& [did, st] : states_) out.push_back(View(did, st, now));
  std::sort(out.begin(), out.end(),
            [](const Reputation& a, const Reputation& b) { return a.did < b.did; });
  return out;
}

bool IsTrusted(const Reputation& r, int64_t min_events, double min_score) {
  return r.events() >= min_events && r.score >= min_score;
}

int64_t SubmitFee(int64_t base_fee, const Reputation& submitter) {
  if (base_fee <= 0) return 0;
  const double fee = std::ceil(static_cast<double>(base_fee) * (1.5 - submitter.score));
  return fee >= 9.2e18 ? INT64_MAX : static_cast<int64_t>(fee);
}

}  // namespace mesh::ledger
