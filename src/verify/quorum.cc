#include "mesh/verify/quorum.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "mesh/common/strings.h"

namespace mesh::verify {
namespace {

// "bafyA 2, bafyB 1": most votes first, then by output, so the text is deterministic.
std::string Tally(const std::map<std::string, std::vector<const Vote*>>& by_output) {
  std::vector<std::pair<std::string, size_t>> rows;
  for (const auto& [output, voters] : by_output) rows.emplace_back(output, voters.size());
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string text;
  for (const auto& [output, count] : rows) {
    if (!text.empty()) text += ", ";
    text += mesh::StrCat(output, " ", count);
  }
  return text;
}

std::string Plural(int n, std::string_view word) {
  return mesh::StrCat(n, " ", word, n == 1 ? "" : "s");
}

}  // namespace

std::string_view QuorumOutcomeName(QuorumOutcome outcome) {
  switch (outcome) {
    case QuorumOutcome::kAgreed:
      return "agreed";
    case QuorumOutcome::kPending:
      return "pending";
    case QuorumOutcome::kNeedMoreReplicas:
      return "need_more_replicas";
    case QuorumOutcome::kUndecidable:
      return "undecidable";
  }
  return "unknown";
}

absl::StatusOr<QuorumDecision> DecideQuorum(const std::vector<Vote>& votes,
                                            const QuorumOptions& options) {
  if (options.replicas < 1) {
    return absl::InvalidArgumentError(
        mesh::StrCat("quorum of ", options.replicas, " replicas; at least 1 is needed"));
  }
  if (options.max_replicas < options.replicas) {
    return absl::InvalidArgumentError(mesh::StrCat("quorum max_replicas ", options.max_replicas,
                                                   " is below its replicas ", options.replicas));
  }
  QuorumDecision decision;
  std::set<std::string_view> seen;
  // By output, in input order within each: std::map keeps outputs sorted for determinism.
  std::map<std::string, std::vector<const Vote*>> by_output;
  for (size_t i = 0; i < votes.size(); ++i) {
    const Vote& vote = votes[i];
    if (vote.executor.empty() || vote.output.empty()) {
      return absl::InvalidArgumentError(mesh::StrCat(
          "vote ", i, " has no ", vote.executor.empty() ? "executor" : "output",
          "; a replica that failed without a result is not a vote (launch a replacement)"));
    }
    if (!seen.insert(vote.executor).second) {
      decision.duplicates.push_back(
          {vote.executor, vote.output, vote.fuel,
           mesh::StrCat("second vote from ", vote.executor, " ignored; its first vote counts")});
      continue;
    }
    by_output[vote.output].push_back(&vote);
  }
  const int counted = static_cast<int>(seen.size());
  decision.votes_counted = counted;
  const int k = std::max(options.replicas, counted);
  const int majority = k / 2 + 1;

  // The leading output; on a tie the first in sorted order, only so that messages are stable.
  const std::string* leader = nullptr;
  int leader_count = 0;
  for (const auto& [output, voters] : by_output) {
    if (static_cast<int>(voters.size()) > leader_count) {
      leader = &output;
      leader_count = static_cast<int>(voters.size());
    }
  }
  const std::string tally = counted == 0 ? "no votes" : Tally(by_output);

  if (leader_count >= majority) {
    decision.outcome = QuorumOutcome::kAgreed;
    decision.output = *leader;
    const std::vector<const Vote*>& winners = by_output[*leader];
    std::map<uint64_t, int> fuel_counts;  // ascending: ties go to the lowest fuel
    for (const Vote* v : winners) ++fuel_counts[v->fuel];
    int best = 0;
    for (const auto& [fuel, n] : fuel_counts) {
      if (n > best) {
        best = n;
        decision.fuel = fuel;
      }
    }
    for (const Vote* v : winners) {
      decision.agreeing.push_back(v->executor);
      if (v->fuel != decision.fuel) {
        decision.fuel_mismatch.push_back(
            {v->executor, v->output, v->fuel,
             mesh::StrCat("reported fuel ", v->fuel, " for output ", v->output, " where ", best,
                          " of ", winners.size(), " agreeing executors measured ", decision.fuel,
                          "; paid at ", decision.fuel)});
      }
    }
    for (const auto& [output, voters] : by_output) {
      if (output == *leader) continue;
      for (const Vote* v : voters) {
        decision.outvoted.push_back({v->executor, v->output, v->fuel,
                                     mesh::StrCat("output ", output, " outvoted ", leader_count,
                                                  " to ", voters.size(), " by ", *leader)});
      }
    }
    std::sort(decision.agreeing.begin(), decision.agreeing.end());
    auto by_executor = [](const Dissent& a, const Dissent& b) { return a.executor < b.executor; };
    std::sort(decision.outvoted.begin(), decision.outvoted.end(), by_executor);
    std::sort(decision.fuel_mismatch.begin(), decision.fuel_mismatch.end(), by_executor);
    decision.reason = mesh::StrCat("output ", *leader, " agreed by ", leader_count, " of ", k,
                                   " replicas (majority ", majority, "; votes: ", tally, ")");
    if (!decision.fuel_mismatch.empty()) {
      decision.reason +=
          mesh::StrCat("; ", decision.fuel_mismatch.size(),
                       " agreeing executor(s) reported other fuel than ", decision.fuel);
    }
    return decision;
  }

  const int outstanding = k - counted;
  if (leader_count + outstanding >= majority) {
    decision.outcome = QuorumOutcome::kPending;
    decision.more_votes_needed = majority - leader_count;
    decision.reason =
        counted == 0
            ? mesh::StrCat("waiting for votes: ", majority, " of ", k, " replicas must agree")
            : mesh::StrCat(counted, " of ", k, " votes in (", tally, "); ", *leader, " needs ",
                           Plural(decision.more_votes_needed, "more agreeing vote"),
                           " for a majority of ", majority);
    return decision;
  }

  // No output can reach a majority of k even if every outstanding vote joins the leader. With a
  // more replicas the leader can reach leader + outstanding + a; the majority of k + a grows by
  // one every second replica, so this ends.
  int add = 1;
  while (leader_count + outstanding + add < (k + add) / 2 + 1) ++add;
  decision.replicas_to_add = add;
  if (k + add > options.max_replicas) {
    decision.outcome = QuorumOutcome::kUndecidable;
    decision.reason =
        mesh::StrCat("no output can win (", tally, " of ", k, " replicas): a majority needs ",
                     Plural(add, "more replica"), ", ", k + add, " in all, above the limit of ",
                     options.max_replicas, "; the job fails unverified");
    return decision;
  }
  decision.outcome = QuorumOutcome::kNeedMoreReplicas;
  decision.reason = mesh::StrCat("no output can win with ", k, " replicas (", tally, "); add ",
                                 Plural(add, "replica"), " (", k + add, " in all, majority ",
                                 (k + add) / 2 + 1, ")");
  return decision;
}

}  // namespace mesh::verify
