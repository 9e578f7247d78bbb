#include "mesh/sched/bidding.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "mesh/common/strings.h"
#include "text.h"

namespace mesh::sched {
namespace {

// A node does not know how long the jobs ahead of it take; it promises a start this far apart
// per queued job, which only orders bids (a busy executor looks later than an idle one).
constexpr absl::Duration kQueuedJobEstimate = absl::Milliseconds(100);

job::Decline MakeDecline(const job::Announce& announce, const LocalCapacity& local,
                         std::string code, std::string message) {
  job::Decline decline;
  decline.job_id = announce.job_id;
  decline.round = announce.round;
  decline.executor = local.did;
  decline.code = std::move(code);
  decline.message = std::move(message);
  return decline;
}

uint32_t Slots(const LocalCapacity& local) { return std::max<uint32_t>(local.max_concurrent, 1); }

// Jobs here (running or waiting) per slot: queued work counts, because a job queued behind a
// worker that has not started yet takes the slot as surely as a running one.
double Load(const LocalCapacity& local) {
  return (static_cast<double>(local.running) + local.queued) / Slots(local);
}

// QuotePrice for the announced fuel, raised by load_markup * load. Exact integer arithmetic
// (the markup in millionths, rounded up), saturating like QuotePrice.
uint64_t MarkedUpPrice(uint64_t base, double markup, double load) {
  const double fraction = std::max(0.0, markup) * std::max(0.0, load);
  if (!std::isfinite(fraction)) return std::numeric_limits<uint64_t>::max();
  const double ppm_double = std::ceil(fraction * 1e6);
  if (ppm_double >= 1e18) return std::numeric_limits<uint64_t>::max();
  const auto ppm = static_cast<unsigned __int128>(ppm_double);
  const unsigned __int128 extra = (base * ppm + 999'999) / 1'000'000;
  const unsigned __int128 total = base + extra;
  return total > std::numeric_limits<uint64_t>::max() ? std::numeric_limits<uint64_t>::max()
                                                      : static_cast<uint64_t>(total);
}

}  // namespace

std::variant<job::Bid, job::Decline> DecideBid(const job::Announce& announce,
                                               const LocalCapacity& local,
                                               const PricingPolicy& pricing, absl::Time now) {
  const job::Requirements& req = announce.requirements;
  if (local.draining) {
    return MakeDecline(announce, local, "draining", "this node is draining: it takes no new jobs");
  }
  if (Contains(announce.exclude, local.did)) {
    return MakeDecline(announce, local, "excluded",
                       "this node is excluded: it failed this job in an earlier round");
  }
  if (announce.module_bytes > local.max_module_bytes) {
    return MakeDecline(
        announce, local, "too_large",
        mesh::StrCat("module is ", FormatBytes(announce.module_bytes),
                     "; this node accepts modules up to ", FormatBytes(local.max_module_bytes)));
  }
  if (local.max_fuel > 0 && announce.fuel > local.max_fuel) {
    return MakeDecline(announce, local, "too_large",
                       mesh::StrCat("fuel limit ", announce.fuel, " exceeds this node's max_fuel ",
                                    local.max_fuel));
  }
  if (const uint64_t memory = std::max(req.memory_bytes, announce.memory_bytes);
      memory > local.memory_bytes) {
    return MakeDecline(announce, local, "memory",
                       mesh::StrCat("job needs ", FormatBytes(memory), " of memory; this node ",
                                    "accepts at most ", FormatBytes(local.memory_bytes)));
  }
  if (req.storage_bytes > local.storage_free) {
    return MakeDecline(
        announce, local, "storage",
        mesh::StrCat("job needs ", FormatBytes(req.storage_bytes), " of storage; this node has ",
                     FormatBytes(local.storage_free), " free"));
  }
  if (req.cpu_cores > local.cpu_cores) {
    return MakeDecline(
        announce, local, "cpu",
        mesh::StrCat("job needs ", req.cpu_cores, " cpu cores; this node has ", local.cpu_cores));
  }
  for (const std::string& capability : req.capabilities) {
    if (!Contains(local.capabilities, capability)) {
      return MakeDecline(announce, local, "capability",
                         mesh::StrCat("this node does not offer capability '", capability, "'"));
    }
  }
  if (!req.federations.empty() && !Intersects(req.federations, local.federations)) {
    return MakeDecline(announce, local, "federation",
                       mesh::StrCat("this node is in none of the required federations (",
                                    Join(req.federations), ")"));
  }
  const uint64_t here = uint64_t{local.running} + local.queued;
  const bool free_slot = here < Slots(local);
  if (here >= uint64_t{Slots(local)} + pricing.max_queue) {
    return MakeDecline(
        announce, local, "no_capacity",
        mesh::StrCat(local.running, " of ", local.max_concurrent, " slots busy and ", local.queued,
                     " jobs queued (max_queue ", pricing.max_queue, ")"));
  }
  const double load = Load(local);
  const uint64_t base_price =
      job::QuotePrice(pricing.base_fee, pricing.rate_per_gfuel, announce.fuel);
  const uint64_t price = MarkedUpPrice(base_price, pricing.load_markup, load);
  if (req.max_price > 0 && price > req.max_price) {
    return MakeDecline(
        announce, local, "price",
        mesh::StrCat("quote ", price, " (", pricing.base_fee, " + ", pricing.rate_per_gfuel,
                     " per 10^9 fuel, load ", Fixed2(load), ") exceeds max_price ", req.max_price));
  }

  job::Bid bid;
  bid.job_id = announce.job_id;
  bid.round = announce.round;
  bid.executor = local.did;
  bid.executor_address = local.address;
  bid.base_fee = pricing.base_fee;
  bid.rate_per_gfuel = pricing.rate_per_gfuel;
  bid.price = price;
  bid.cpu_cores = local.cpu_cores;
  bid.memory_bytes = local.memory_bytes;
  bid.storage_bytes = local.storage_free;
  bid.capabilities = local.capabilities;
  bid.federations = local.federations;
  bid.load = load;
  bid.queued = local.queued;
  // Each job ahead of this one (in the queue, beyond the slots) counts as this job's run at the
  // node's speed when it has a speed score (jobs alike), else as a fixed guess.
  const int64_t run_ms =
      local.fuel_per_second > 0 ? ExpectedRunMillis(announce.fuel, local.fuel_per_second) : 0;
  const absl::Duration per_job_ahead = run_ms > 0 ? absl::Milliseconds(run_ms) : kQueuedJobEstimate;
  const absl::Time start =
      free_slot ? now : now + per_job_ahead * static_cast<int64_t>(here - Slots(local) + 1);
  bid.expected_start_ms = absl::ToUnixMillis(start);
  bid.fuel_per_second = local.fuel_per_second;
  if (run_ms > 0) bid.expected_finish_ms = bid.expected_start_ms + run_ms;
  bid.valid_until_ms = absl::ToUnixMillis(now + pricing.bid_validity);
  return bid;
}

int64_t ExpectedRunMillis(uint64_t fuel, uint64_t fuel_per_second) {
  constexpr int64_t kYearMs = int64_t{365} * 24 * 3600 * 1000;
  if (fuel_per_second == 0) return kYearMs;
  const unsigned __int128 ms =
      (static_cast<unsigned __int128>(fuel) * 1000 + fuel_per_second - 1) / fuel_per_second;
  return std::clamp<int64_t>(ms > kYearMs ? kYearMs : static_cast<int64_t>(ms), 1, kYearMs);
}

bool ShouldClose(const BidWindow& window, size_t bids, size_t declines, absl::Time now) {
  if (now >= window.deadline) return true;
  if (window.enough_bids > 0 && bids >= window.enough_bids) return true;
  // With nobody asked directly, relayed announcements may still bring bids: wait.
  return window.asked > 0 && bids + declines >= window.asked;
}

absl::Duration Backoff(absl::Duration base, absl::Duration max, int attempt, Rng* rng) {
  absl::Duration cap = base;
  for (int i = 0; i < attempt && cap < max; ++i) cap *= 2;
  cap = std::min(cap, max);
  if (cap <= absl::ZeroDuration()) return absl::ZeroDuration();
  if (rng == nullptr) return cap;
  const int64_t cap_ns = absl::ToInt64Nanoseconds(cap);
  return absl::Nanoseconds(static_cast<int64_t>(rng->Uniform(static_cast<uint64_t>(cap_ns) + 1)));
}

absl::Duration Backoff(const RetryPolicy& policy, int attempt, Rng& rng) {
  return Backoff(policy.base, policy.max, attempt, &rng);
}

}  // namespace mesh::sched
