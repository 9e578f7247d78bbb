#include "mesh/sched/selection.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <utility>

#include "absl/strings/str_format.h"
#include "mesh/common/strings.h"
#include "text.h"

namespace mesh::sched {
namespace {

using nlohmann::json;

Rejection Reject(const job::Bid& bid, std::string code, std::string message) {
  return Rejection{bid.executor, std::move(code), std::move(message)};
}

uint64_t RequiredMemory(const job::Announce& announce) {
  return std::max(announce.requirements.memory_bytes, announce.memory_bytes);
}

double Ratio(double offered, double required) {
  if (required <= 0) return 1;
  return std::min(1.0, offered / required);
}

struct Scored {
  const BidView* view;
  ScoredBid out;
};

// The weights the score divides by: the finish weight only when some bid has a finish estimate.
double WeightSum(const SelectionPolicy& p, bool finish) {
  return p.price_weight + p.reputation_weight + p.resources_weight + p.latency_weight +
         (finish ? p.finish_weight : 0);
}

// The components, weighted as in the score; index 0..4 = price, reputation, resources,
// latency, finish.
std::array<double, 5> Weighted(const ScoredBid& s, const SelectionPolicy& p, bool finish) {
  const double sum = WeightSum(p, finish);
  if (sum <= 0) return {};
  return {p.price_weight * s.price_score / sum, p.reputation_weight * s.reputation_score / sum,
          p.resources_weight * s.resources_score / sum, p.latency_weight * s.latency_score / sum,
          finish ? p.finish_weight * s.finish_score / sum : 0};
}

std::string Finish(const ScoredBid& s, absl::Time now) {
  if (s.expected_finish_ms <= 0) return "no estimate";
  char speed[32];
  std::snprintf(speed, sizeof speed, "%.3g", double(s.fuel_per_second) / 1e9);
  return mesh::StrCat("in ", std::max<int64_t>(0, s.expected_finish_ms - absl::ToUnixMillis(now)),
                      " ms at ", speed, "e9 fuel/s");
}

std::string Latency(const BidView& v) {
  if (!v.rtt.has_value()) return "unknown";
  return mesh::StrCat(absl::ToInt64Milliseconds(*v.rtt), " ms");
}

// What the winner did better, in the terms of the component that cost the loser most.
std::string DominantDifference(const Scored& loser, const Scored& winner,
                               const SelectionPolicy& policy, bool finish, absl::Time now) {
  const std::array<double, 5> l = Weighted(loser.out, policy, finish);
  const std::array<double, 5> w = Weighted(winner.out, policy, finish);
  size_t best = 0;
  for (size_t i = 1; i < w.size(); ++i) {
    if (w[i] - l[i] > w[best] - l[best]) best = i;
  }
  const job::Bid& lb = loser.view->bid;
  const job::Bid& wb = winner.view->bid;
  switch (best) {
    case 0:
      return mesh::StrCat("price ", lb.price, " vs ", wb.price);
    case 1:
      return mesh::StrCat("reputation ", Fixed2(loser.out.reputation_score), " vs ",
                          Fixed2(winner.out.reputation_score));
    case 2:
      return mesh::StrCat("resources ", Fixed2(loser.out.resources_score), " vs ",
                          Fixed2(winner.out.resources_score), ", load ", Fixed2(loser.out.load),
                          " vs ", Fixed2(winner.out.load));
    case 3:
      return mesh::StrCat("latency ", Latency(*loser.view), " vs ", Latency(*winner.view));
    default:
      return mesh::StrCat("expected finish ", Finish(loser.out, now), " vs ",
                          Finish(winner.out, now));
  }
}

// Why `loser` ranked below `winner` although their scores are equal: the tie-break.
std::string TieBreak(const Scored& loser, const Scored& winner) {
  const job::Bid& lb = loser.view->bid;
  const job::Bid& wb = winner.view->bid;
  if (lb.price != wb.price) {
    return mesh::StrCat("tie broken by lower price (", wb.price, " vs ", lb.price, ")");
  }
  if (lb.expected_start_ms != wb.expected_start_ms) {
    return mesh::StrCat("tie broken by earlier expected start (",
                        lb.expected_start_ms - wb.expected_start_ms, " ms sooner)");
  }
  return "tie broken by executor DID order";
}

bool Better(const Scored& a, const Scored& b) {
  if (a.out.score != b.out.score) return a.out.score > b.out.score;
  const job::Bid& x = a.view->bid;
  const job::Bid& y = b.view->bid;
  if (x.price != y.price) return x.price < y.price;
  if (x.expected_start_ms != y.expected_start_ms) return x.expected_start_ms < y.expected_start_ms;
  if (x.executor != y.executor) return x.executor < y.executor;
  return a.out.bid_cid < b.out.bid_cid;
}

std::string Summary(size_t bids, const std::vector<Rejection>& rejected,
                    const std::vector<ScoredBid>& ranked) {
  std::string out = mesh::StrCat(bids, bids == 1 ? " bid" : " bids");
  if (!rejected.empty()) {
    std::vector<std::pair<std::string, int>> codes;  // in order of first appearance
    for (const Rejection& r : rejected) {
      auto it = std::find_if(codes.begin(), codes.end(),
                             [&](const auto& c) { return c.first == r.code; });
      if (it == codes.end()) {
        codes.emplace_back(r.code, 1);
      } else {
        ++it->second;
      }
    }
    std::vector<std::string> parts;
    for (const auto& [code, n] : codes)
      parts.push_back(n == 1 ? code : mesh::StrCat(code, " x", n));
    out += mesh::StrCat(", ", rejected.size(), " filtered (", Join(parts), ")");
  }
  std::vector<std::string> winners;
  for (const ScoredBid& s : ranked) {
    if (!s.won) continue;
    winners.push_back(
        mesh::StrCat(ShortDid(s.executor), " score ", Fixed2(s.score), " price ", s.price));
  }
  if (winners.empty()) return out + ", no winner";
  return mesh::StrCat(out, winners.size() == 1 ? ", winner " : ", winners ", Join(winners));
}

}  // namespace

double EffectiveLoad(const BidView& view) {
  // A NaN or infinite load (a peer's bid is untrusted input) counts as full.
  auto sane = [](double load) { return std::isfinite(load) ? std::max(load, 0.0) : 1.0; };
  return std::max(sane(view.bid.load), sane(view.assigned_load));
}

std::optional<Rejection> FilterBid(const job::Announce& announce, const BidView& view,
                                   absl::Time now, const SelectionPolicy& policy) {
  const job::Bid& bid = view.bid;
  const job::Requirements& req = announce.requirements;
  if (bid.job_id != announce.job_id || bid.round != announce.round) {
    return Reject(bid, "wrong_job",
                  mesh::StrCat("bid is for job ", bid.job_id, " round ", bid.round, ", not job ",
                               announce.job_id, " round ", announce.round));
  }
  if (Contains(announce.exclude, bid.executor)) {
    return Reject(bid, "excluded", "executor is excluded: it failed this job in an earlier round");
  }
  const int64_t now_ms = absl::ToUnixMillis(now);
  if (bid.valid_until_ms < now_ms) {
    return Reject(bid, "expired",
                  mesh::StrCat("bid expired ", now_ms - bid.valid_until_ms, " ms ago"));
  }
  if (req.max_price > 0 && bid.price > req.max_price) {
    return Reject(bid, "price",
                  mesh::StrCat("price ", bid.price, " exceeds max_price ", req.max_price));
  }
  const double reputation = view.reputation.value_or(policy.default_reputation);
  if (reputation < req.min_reputation) {
    return Reject(bid, "reputation",
                  mesh::StrCat("reputation ", Fixed2(reputation),
                               view.reputation.has_value() ? "" : " (no history)",
                               " is below min_reputation ", Fixed2(req.min_reputation)));
  }
  if (bid.cpu_cores < req.cpu_cores) {
    return Reject(bid, "cpu",
                  mesh::StrCat(bid.cpu_cores, " cpu cores offered, ", req.cpu_cores, " required"));
  }
  if (const uint64_t memory = RequiredMemory(announce); bid.memory_bytes < memory) {
    return Reject(bid, "memory",
                  mesh::StrCat("memory ", FormatBytes(bid.memory_bytes), " offered, ",
                               FormatBytes(memory), " required"));
  }
  if (bid.storage_bytes < req.storage_bytes) {
    return Reject(bid, "storage",
                  mesh::StrCat("storage ", FormatBytes(bid.storage_bytes), " offered, ",
                               FormatBytes(req.storage_bytes), " required"));
  }
  for (const std::string& capability : req.capabilities) {
    if (!Contains(bid.capabilities, capability)) {
      return Reject(bid, "capability",
                    mesh::StrCat("capability '", capability, "' is required but not offered"));
    }
  }
  if (!req.federations.empty() && !Intersects(req.federations, bid.federations)) {
    return Reject(bid, "federation",
                  mesh::StrCat("executor is in none of the required federations (",
                               Join(req.federations), ")"));
  }
  if (req.trust_scope == "known" && !view.known_peer) {
    return Reject(bid, "trust_scope",
                  "trust_scope is 'known' and the executor is not in the peer table");
  }
  if (req.trust_scope == "federation" && req.federations.empty()) {
    return Reject(bid, "trust_scope",
                  "trust_scope is 'federation' but the announcement names no federation");
  }
  return std::nullopt;
}

Selection Select(const job::Announce& announce, const std::vector<BidView>& bids,
                 const SelectionPolicy& policy, absl::Time now, size_t winners) {
  Selection selection;
  std::vector<Scored> passing;
  for (const BidView& view : bids) {
    if (std::optional<Rejection> rejection = FilterBid(announce, view, now, policy)) {
      selection.rejected.push_back(*std::move(rejection));
    } else {
      passing.push_back(Scored{&view, {}});
    }
  }
  uint64_t min_price = UINT64_MAX;
  for (const Scored& s : passing) min_price = std::min(min_price, s.view->bid.price);
  // A bid's expected run: from now to its expected finish, at least 1 ms, stretched by how
  // little of its earlier promises its executor kept.
  const int64_t now_ms = absl::ToUnixMillis(now);
  auto run_ms = [&](const BidView& v) {
    const double trust = std::isfinite(v.speed_trust) ? std::clamp(v.speed_trust, 0.01, 1.0) : 1.0;
    return std::max<int64_t>(
        1, static_cast<int64_t>(double(std::max<int64_t>(1, v.bid.expected_finish_ms - now_ms)) /
                                trust));
  };
  int64_t min_run_ms = 0;
  for (const Scored& s : passing) {
    if (s.view->bid.expected_finish_ms <= 0) continue;
    const int64_t run = run_ms(*s.view);
    min_run_ms = min_run_ms == 0 ? run : std::min(min_run_ms, run);
  }
  const bool finish = min_run_ms > 0 && policy.finish_weight > 0;
  const double weight_sum = WeightSum(policy, finish);
  const double half_ms = absl::ToDoubleMilliseconds(policy.latency_half);
  for (Scored& s : passing) {
    const BidView& v = *s.view;
    const job::Bid& bid = v.bid;
    ScoredBid& out = s.out;
    out.executor = bid.executor;
    out.executor_address = bid.executor_address;
    out.bid_cid = v.bid_cid;
    out.price = bid.price;
    out.price_score =
        bid.price == 0 ? 1.0 : static_cast<double>(min_price) / static_cast<double>(bid.price);
    out.reputation_score = std::clamp(v.reputation.value_or(policy.default_reputation), 0.0, 1.0);
    const double fit =
        (Ratio(bid.cpu_cores, std::max<uint32_t>(announce.requirements.cpu_cores, 1)) +
         Ratio(static_cast<double>(bid.memory_bytes),
               static_cast<double>(RequiredMemory(announce)))) /
        2;
    // Load 0..1 (free slots) costs up to half the fit; beyond 1 (queued work) it keeps falling,
    // so an executor with two jobs per slot ranks below one with one.
    out.load = EffectiveLoad(v);
    out.resources_score = out.load <= 1 ? fit * (1 - out.load * 0.5) : fit * 0.5 / out.load;
    if (v.rtt.has_value()) {
      const double rtt_ms = std::max(0.0, absl::ToDoubleMilliseconds(*v.rtt));
      out.latency_score = half_ms + rtt_ms > 0 ? half_ms / (half_ms + rtt_ms) : 1.0;
    } else {
      out.latency_score = 0.5;
    }
    out.expected_start_ms = bid.expected_start_ms;
    out.expected_finish_ms = bid.expected_finish_ms;
    out.fuel_per_second = bid.fuel_per_second;
    if (finish) {
      out.finish_score = bid.expected_finish_ms > 0
                             ? static_cast<double>(min_run_ms) / static_cast<double>(run_ms(v))
                             : 0.5;
    }
    out.score = weight_sum > 0 ? (policy.price_weight * out.price_score +
                                  policy.reputation_weight * out.reputation_score +
                                  policy.resources_weight * out.resources_score +
                                  policy.latency_weight * out.latency_score +
                                  (finish ? policy.finish_weight * out.finish_score : 0)) /
                                     weight_sum
                               : 0;
  }
  std::sort(passing.begin(), passing.end(), Better);

  // Mark the first `winners` distinct executors; every other bid says how it compared.
  std::vector<const Scored*> won;
  for (Scored& s : passing) {
    const bool repeat = std::any_of(
        won.begin(), won.end(), [&](const Scored* w) { return w->out.executor == s.out.executor; });
    if (repeat) {
      s.out.reason = "lost: the executor is already selected with a better bid";
    } else if (won.size() < winners) {
      s.out.won = true;
      s.out.reason = won.empty() ? mesh::StrCat("selected: best score ", Fixed2(s.out.score))
                                 : mesh::StrCat("selected: rank ", won.size() + 1, ", score ",
                                                Fixed2(s.out.score));
      won.push_back(&s);
    } else {
      // Compared with the last winner: the bid this one would have had to beat.
      const Scored& winner = *won.back();
      if (s.out.score < winner.out.score) {
        s.out.reason =
            mesh::StrCat("lost: score ", Fixed2(s.out.score), " < ", Fixed2(winner.out.score), " (",
                         DominantDifference(s, winner, policy, finish, now), ")");
      } else {
        s.out.reason = mesh::StrCat("lost: score ", Fixed2(s.out.score), " ties ",
                                    Fixed2(winner.out.score), "; ", TieBreak(s, winner));
      }
    }
  }
  for (Scored& s : passing) selection.ranked.push_back(std::move(s.out));
  selection.summary = Summary(bids.size(), selection.rejected, selection.ranked);
  return selection;
}

json ToJson(const Selection& selection) {
  json ranked = json::array();
  for (const ScoredBid& s : selection.ranked) {
    ranked.push_back({{"executor", s.executor},
                      {"executor_address", s.executor_address},
                      {"bid_cid", s.bid_cid},
                      {"price", s.price},
                      {"score", s.score},
                      {"price_score", s.price_score},
                      {"reputation_score", s.reputation_score},
                      {"resources_score", s.resources_score},
                      {"latency_score", s.latency_score},
                      {"finish_score", s.finish_score},
                      {"expected_finish_ms", s.expected_finish_ms},
                      {"fuel_per_second", s.fuel_per_second},
                      {"load", s.load},
                      {"won", s.won},
                      {"reason", s.reason}});
  }
  json rejected = json::array();
  for (const Rejection& r : selection.rejected) {
    rejected.push_back({{"executor", r.executor}, {"code", r.code}, {"message", r.message}});
  }
  return {{"ranked", std::move(ranked)},
          {"rejected", std::move(rejected)},
          {"summary", selection.summary},
          {"has_winner", selection.has_winner()}};
}

}  // namespace mesh::sched
