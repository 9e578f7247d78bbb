#include "mesh/verify/verification_policy.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "absl/strings/str_format.h"
#include "mesh/common/strings.h"

namespace mesh::verify {
namespace {

constexpr std::string_view kExpected =
    "expected none, hash, replicate(k) with k from 1 to 9, replicate (= replicate(3)) or adaptive";

absl::Status Bad(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(mesh::StrCat("verification '", text, "': ", why));
}

std::string Percent(double rate) { return absl::StrFormat("%g%%", rate * 100); }

}  // namespace

absl::StatusOr<Verification> ParseVerification(std::string_view text) {
  if (text == "none") return Verification{Mode::kNone, 1};
  if (text == "hash") return Verification{Mode::kHash, 1};
  if (text == "adaptive") return Verification{Mode::kAdaptive, 1};
  if (text == "replicate") return Verification{Mode::kReplicate, kDefaultReplicas};
  constexpr std::string_view kPrefix = "replicate(";
  if (text.substr(0, kPrefix.size()) == kPrefix) {
    if (text.back() != ')') return Bad(text, "missing ')'; write replicate(3)");
    std::string_view digits = text.substr(kPrefix.size(), text.size() - kPrefix.size() - 1);
    if (digits.empty()) return Bad(text, "no replica count; write replicate(3) or replicate");
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return Bad(text, "the replica count must be a whole number from 1 to 9, e.g. replicate(3)");
    }
    if (digits.size() > 1 && digits[0] == '0') {
      return Bad(text, "write the replica count without leading zeros");
    }
    // At most 9 replicas: more multiplies the cost without a practical gain in confidence.
    if (digits.size() > 1 || digits[0] == '0') {
      return Bad(text, mesh::StrCat("replica count ", digits, " is out of range 1..", kMaxReplicas,
                                    "; 3 is the usual choice"));
    }
    return Verification{Mode::kReplicate, digits[0] - '0'};
  }
  if (text.empty()) return Bad(text, mesh::StrCat("empty; ", kExpected));
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower != text && ParseVerification(lower).ok()) {
    return Bad(text, mesh::StrCat("modes are lower case; write '", lower, "'"));
  }
  return Bad(text, mesh::StrCat("unknown mode; ", kExpected));
}

std::string ToString(const Verification& verification) {
  switch (verification.mode) {
    case Mode::kNone:
      return "none";
    case Mode::kHash:
      return "hash";
    case Mode::kReplicate:
      return mesh::StrCat("replicate(", verification.replicas, ")");
    case Mode::kAdaptive:
      return "adaptive";
  }
  return "unknown";
}

absl::Status ValidateAdaptivePolicy(const AdaptivePolicy& p) {
  auto bad = [](std::string why) {
    return absl::InvalidArgumentError(mesh::StrCat("adaptive verification policy: ", why));
  };
  if (!(p.suspect_reputation >= 0 && p.suspect_reputation <= p.trusted_reputation &&
        p.trusted_reputation <= 1)) {
    return bad(absl::StrFormat("need 0 <= suspect_reputation (%g) <= trusted_reputation (%g) <= 1",
                               p.suspect_reputation, p.trusted_reputation));
  }
  if (p.low_value < 0 || p.low_value > p.high_value) {
    return bad(
        mesh::StrCat("need 0 <= low_value (", p.low_value, ") <= high_value (", p.high_value, ")"));
  }
  if (p.unknown_replicas < 1 || p.unknown_replicas > p.suspect_replicas ||
      p.unknown_replicas > p.high_value_replicas || p.suspect_replicas > kMaxReplicas ||
      p.high_value_replicas > kMaxReplicas) {
    return bad(mesh::StrCat("need 1 <= unknown_replicas (", p.unknown_replicas,
                            ") <= suspect_replicas (", p.suspect_replicas,
                            ") and high_value_replicas (", p.high_value_replicas,
                            ") <= ", kMaxReplicas));
  }
  if (!(p.spot_check_rate >= 0 && p.spot_check_rate <= 1)) {
    return bad(absl::StrFormat("spot_check_rate %g is not in [0, 1]", p.spot_check_rate));
  }
  return absl::OkStatus();
}

AdaptivePlan PlanAdaptive(const AdaptiveInput& input, const AdaptivePolicy& p) {
  // NaN and out-of-range reputations are treated as the worst case rather than trusted.
  const double rep =
      std::isnan(input.executor_reputation) ? 0 : std::clamp(input.executor_reputation, 0.0, 1.0);
  const std::string who =
      absl::StrFormat("reputation %.2f, %d verified results", rep, input.verified_results);
  const std::string value = mesh::StrCat("job worth ", input.job_value, " credits");
  AdaptivePlan plan;
  // The order matters for monotonicity: each test can only raise the replica count above what
  // the tests after it would give.
  if (input.job_value >= p.high_value) {
    // A suspect executor keeps at least its own count, so a higher value never lowers it.
    plan.replicas =
        std::max(p.high_value_replicas, rep < p.suspect_reputation ? p.suspect_replicas : 1);
    plan.reason = mesh::StrCat(value, " (high_value ", p.high_value, "): ", plan.replicas,
                               " replicas whoever runs it");
  } else if (rep < p.suspect_reputation) {
    plan.replicas = p.suspect_replicas;
    plan.reason = absl::StrFormat("suspect executor (%s; below %g): %d replicas", who,
                                  p.suspect_reputation, plan.replicas);
  } else if (input.verified_results < p.min_track_record) {
    plan.replicas = p.unknown_replicas;
    plan.reason = absl::StrFormat("new executor (%s; %d needed for trust): %d replicas", who,
                                  p.min_track_record, plan.replicas);
  } else if (rep < p.trusted_reputation) {
    plan.replicas = p.unknown_replicas;
    plan.reason = absl::StrFormat("executor not trusted (%s; trust from %g): %d replicas", who,
                                  p.trusted_reputation, plan.replicas);
  } else if (input.job_value > p.low_value) {
    plan.replicas = p.unknown_replicas;
    plan.reason = mesh::StrCat("trusted executor (", who, ") but ", value, " (above low_value ",
                               p.low_value, "): ", plan.replicas, " replicas");
  } else {
    plan.replicas = 1;
    plan.spot_check_rate = p.spot_check_rate;
    plan.reason = mesh::StrCat("trusted executor (", who, "), ", value, ": 1 replica, spot check ",
                               Percent(p.spot_check_rate));
  }
  return plan;
}

bool ShouldSpotCheck(const AdaptivePlan& plan, double uniform) {
  return plan.replicas == 1 && uniform < plan.spot_check_rate;
}

int EscrowReplicas(const Verification& verification, const AdaptivePolicy& policy) {
  switch (verification.mode) {
    case Mode::kReplicate:
      return std::max(1, verification.replicas);
    case Mode::kAdaptive:
      return std::max(
          {policy.unknown_replicas, policy.suspect_replicas, policy.high_value_replicas, 1});
    default:
      return 1;
  }
}

}  // namespace mesh::verify
