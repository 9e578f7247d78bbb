// Summary: the JSON meshsim writes (byte-identical for a scenario and seed) and the text it
// prints.
#include <cmath>
#include <cstdio>

#include "mesh/common/strings.h"
#include "mesh/sim/simulator.h"

namespace mesh::sim {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kHonest:
      return "honest";
    case Role::kLiar:
      return "liar";
    case Role::kStaller:
      return "staller";
    case Role::kCrasher:
      return "crasher";
    case Role::kUnderbidder:
      return "underbidder";
    case Role::kFreeRider:
      return "free_rider";
  }
  return "?";
}

namespace {

nlohmann::json PercentilesJson(const Percentiles& p) {
  return {{"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}, {"max", p.max}, {"mean", p.mean}};
}

nlohmann::json Series(const std::vector<double>& values) {
  nlohmann::json out = nlohmann::json::array();
  for (double v : values) {
    if (std::isnan(v)) {
      out.push_back(nullptr);
    } else {
      out.push_back(v);
    }
  }
  return out;
}

}  // namespace

nlohmann::json ToJson(const Summary& s) {
  nlohmann::json j;
  j["scenario"] = s.scenario;
  j["seed"] = s.seed;
  j["signed_messages"] = s.signed_messages;
  j["nodes"] = s.nodes;
  j["nodes_joined"] = s.nodes_joined;
  j["nodes_alive_end"] = s.nodes_alive_end;
  j["nodes_by_role"] = s.nodes_by_role;
  j["crashes"] = s.crashes;
  j["leaves"] = s.leaves;
  j["sim_seconds"] = s.sim_seconds;
  j["events"] = s.events;
  j["jobs_submitted"] = s.jobs_submitted;
  j["jobs_completed"] = s.jobs_completed;
  j["jobs_failed"] = s.jobs_failed;
  j["jobs_waiting"] = s.jobs_waiting;
  j["jobs_completed_twice"] = s.jobs_completed_twice;
  j["wrong_results_accepted"] = s.wrong_results_accepted;
  j["failure_reasons"] = s.failure_reasons;
  j["latency_ms"] = PercentilesJson(s.latency_ms);
  nlohmann::json by_requirement = nlohmann::json::object();
  for (const auto& [requirement, r] : s.by_requirement) {
    by_requirement[requirement] = {{"submitted", r.submitted},
                                   {"completed", r.completed},
                                   {"failed", r.failed},
                                   {"misplaced", r.misplaced},
                                   {"latency_ms", PercentilesJson(r.latency_ms)}};
  }
  j["by_requirement"] = std::move(by_requirement);
  if (s.split.submitted > 0) {
    j["split"] = {{"submitted", s.split.submitted},
                  {"completed", s.split.completed},
                  {"failed", s.split.failed},
                  {"chunks", s.split.chunks},
                  {"chunk_auctions", s.split.chunk_auctions},
                  {"executors_mean", s.split.executors_mean},
                  {"latency_ms", PercentilesJson(s.split.latency_ms)}};
  }
  j["latency_cdf_ms"] = s.latency_cdf_ms;
  j["market_messages"] = s.market_messages;
  j["membership_messages"] = s.membership_messages;
  j["messages_by_type"] = s.messages_by_type;
  j["messages_per_job"] = s.messages_per_job;
  j["announcements_beyond"] = s.announcements_beyond;
  j["membership_messages_per_node_s"] = s.membership_messages_per_node_s;
  j["blob_bytes_per_job"] = s.blob_bytes_per_job;
  if (s.signed_messages) j["message_bytes_per_job"] = s.message_bytes_per_job;
  j["utilisation"] = s.utilisation;
  j["credits_paid"] = s.credits_paid;
  j["credits_paid_by_role"] = s.credits_paid_by_role;
  j["credits_paid_to_adversaries"] = s.credits_paid_to_adversaries;
  j["assignments_by_role"] = s.assignments_by_role;
  j["honest_assignments"] = {{"max_over_mean", s.honest_assignments_max_over_mean},
                             {"min_over_mean", s.honest_assignments_min_over_mean}};
  j["adversary_share_of_credits"] = s.adversary_share_of_credits;
  j["views"] = {{"mean_active", s.mean_active_view},
                {"max_active", s.max_active_view},
                {"mean_passive", s.mean_passive_view}};
  nlohmann::json reputation = nlohmann::json::object();
  for (const auto& [role, values] : s.series_reputation) reputation[role] = Series(values);
  j["series"] = {{"t_s", s.series_t},
                 {"utilisation", Series(s.series_utilisation)},
                 {"reputation_by_role", reputation}};
  return j;
}

std::string ToText(const Summary& s) {
  std::string out;
  auto line = [&](const char* fmt, auto... args) {
    char buf[256];
    std::snprintf(buf, sizeof buf, fmt, args...);
    out += buf;
    out += '\n';
  };
  line("scenario %s, seed %llu, %u nodes (+%u joined, %u alive at the end), messages %s",
       s.scenario.c_str(), static_cast<unsigned long long>(s.seed), s.nodes, s.nodes_joined,
       s.nodes_alive_end, s.signed_messages ? "signed (Ed25519)" : "unsigned (signing off)");
  std::string roles;
  for (const auto& [role, n] : s.nodes_by_role) roles += mesh::StrCat(" ", role, "=", n);
  line("  roles:%s; %llu crashes, %llu graceful leaves", roles.c_str(),
       static_cast<unsigned long long>(s.crashes), static_cast<unsigned long long>(s.leaves));
  line("  simulated %.1f s in %llu events", s.sim_seconds,
       static_cast<unsigned long long>(s.events));
  line("jobs: %llu submitted, %llu completed, %llu failed, %llu waiting, %llu completed twice",
       static_cast<unsigned long long>(s.jobs_submitted),
       static_cast<unsigned long long>(s.jobs_completed),
       static_cast<unsigned long long>(s.jobs_failed),
       static_cast<unsigned long long>(s.jobs_waiting),
       static_cast<unsigned long long>(s.jobs_completed_twice));
  for (const auto& [reason, n] : s.failure_reasons) {
    line("  failed: %llu x %s", static_cast<unsigned long long>(n), reason.c_str());
  }
  line("  wrong results accepted: %llu", static_cast<unsigned long long>(s.wrong_results_accepted));
  line("latency (submit -> end): p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms",
       s.latency_ms.p50, s.latency_ms.p90, s.latency_ms.p99, s.latency_ms.max);
  for (const auto& [requirement, r] : s.by_requirement) {
    line(
        "  jobs asking %s: %llu submitted, %llu completed (%llu on a node without it), %llu "
        "failed; p50 %.1f ms, p99 %.1f ms",
        requirement.c_str(), static_cast<unsigned long long>(r.submitted),
        static_cast<unsigned long long>(r.completed), static_cast<unsigned long long>(r.misplaced),
        static_cast<unsigned long long>(r.failed), r.latency_ms.p50, r.latency_ms.p99);
  }
  if (s.split.submitted > 0) {
    line(
        "  split jobs: %llu submitted, %llu completed, %llu failed; %llu chunks, %.2f auctions "
        "per split job (the other chunks on its lease); %.1f executors per job; p50 %.1f ms, "
        "p99 %.1f ms",
        static_cast<unsigned long long>(s.split.submitted),
        static_cast<unsigned long long>(s.split.completed),
        static_cast<unsigned long long>(s.split.failed),
        static_cast<unsigned long long>(s.split.chunks),
        double(s.split.chunk_auctions) / double(s.split.submitted), s.split.executors_mean,
        s.split.latency_ms.p50, s.split.latency_ms.p99);
  }
  line(
      "messages: %.1f market messages per job; membership %.2f per node per second; %llu "
      "announcements beyond the active view",
      s.messages_per_job, s.membership_messages_per_node_s,
      static_cast<unsigned long long>(s.announcements_beyond));
  line("  views: active %.2f (max %.0f), passive %.1f", s.mean_active_view, s.max_active_view,
       s.mean_passive_view);
  line("bytes: %.0f blob bytes fetched per job; utilisation %.1f%% of live slots",
       s.blob_bytes_per_job, 100 * s.utilisation);
  if (s.signed_messages) {
    line("  market messages: %.0f bytes of signed envelopes per job", s.message_bytes_per_job);
  }
  std::string assigned;
  for (const auto& [role, c] : s.assignments_by_role) assigned += mesh::StrCat(" ", role, "=", c);
  line("assignments:%s; honest executors' busiest %.2f and idlest %.2f of their mean",
       assigned.c_str(), s.honest_assignments_max_over_mean, s.honest_assignments_min_over_mean);
  std::string paid;
  for (const auto& [role, c] : s.credits_paid_by_role) {
    paid += mesh::StrCat(" ", role, "=", c);
  }
  line("credits: %lld paid (%s), %.2f%% to adversaries", static_cast<long long>(s.credits_paid),
       paid.empty() ? "none" : paid.c_str() + 1, 100 * s.adversary_share_of_credits);
  for (const auto& [role, series] : s.series_reputation) {
    double last = std::nan("");
    for (double v : series) last = std::isnan(v) ? last : v;
    line("  reputation of %s executors at the end: %.3f", role.c_str(), last);
  }
  return out;
}

}  // namespace mesh::sim
