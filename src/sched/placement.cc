#include <algorithm>
#include <cmath>
#include <optional>

#include "mesh/common/strings.h"
#include "mesh/sched/bidding.h"
#include "text.h"

namespace mesh::sched {
namespace {

// log10(x + 1) placed on [lo, hi] (also log10), clamped to [0, 1].
double LogScale(uint64_t x, double lo, double hi) {
  const double v = std::log10(static_cast<double>(x) + 1);
  return std::clamp((v - lo) / (hi - lo), 0.0, 1.0);
}

// The first requirement this node cannot meet, as a sentence; nullopt if it meets them all.
std::optional<std::string> UnmetLocally(const job::Requirements& req, uint64_t memory_bytes,
                                        const LocalCapacity& local) {
  if (const uint64_t memory = std::max(req.memory_bytes, memory_bytes);
      memory > local.memory_bytes) {
    return mesh::StrCat("memory ", FormatBytes(memory), " required, ",
                        FormatBytes(local.memory_bytes), " here");
  }
  if (req.cpu_cores > local.cpu_cores) {
    return mesh::StrCat(req.cpu_cores, " cpu cores required, ", local.cpu_cores, " here");
  }
  if (req.storage_bytes > local.storage_free) {
    return mesh::StrCat("storage ", FormatBytes(req.storage_bytes), " required, ",
                        FormatBytes(local.storage_free), " free here");
  }
  for (const std::string& capability : req.capabilities) {
    if (!Contains(local.capabilities, capability)) {
      return mesh::StrCat("capability '", capability, "' is not offered here");
    }
  }
  if (!req.federations.empty() && !Intersects(req.federations, local.federations)) {
    return mesh::StrCat("this node is in none of the federations ", Join(req.federations));
  }
  return std::nullopt;
}

std::string Slots(const LocalCapacity& local) {
  return mesh::StrCat(local.running, " of ", local.max_concurrent, " running");
}

std::string Peers(size_t live_peers) {
  return mesh::StrCat(live_peers, live_peers == 1 ? " live peer" : " live peers");
}

}  // namespace

double ComplexityScore(uint64_t module_bytes, uint64_t fuel, uint64_t input_bytes) {
  // Fuel from 10^7 (milliseconds of work) to 10^12 (many minutes); inputs from 64 KiB to
  // 4 GiB; modules from 16 KiB to 64 MiB. A job at the top of the fuel range alone scores 0.9,
  // which is where PlacementPolicy's default sends a job to the market.
  const double fuel_score = LogScale(fuel, 7, 12);
  const double input_score =
      LogScale(input_bytes, std::log10(64.0 * 1024), std::log10(4.0 * (1 << 30)));
  const double module_score =
      LogScale(module_bytes, std::log10(16.0 * 1024), std::log10(64.0 * (1 << 20)));
  return std::clamp(0.9 * fuel_score + 0.07 * input_score + 0.03 * module_score, 0.0, 1.0);
}

std::string_view PlacementModeName(PlacementMode mode) {
  switch (mode) {
    case PlacementMode::kAuto:
      return "auto";
    case PlacementMode::kLocal:
      return "local";
    case PlacementMode::kRemote:
      return "remote";
  }
  return "auto";
}

absl::StatusOr<PlacementMode> ParsePlacementMode(std::string_view text) {
  for (PlacementMode mode : {PlacementMode::kAuto, PlacementMode::kLocal, PlacementMode::kRemote}) {
    if (PlacementModeName(mode) == text) return mode;
  }
  return absl::InvalidArgumentError(
      mesh::StrCat("placement '", text, "' is not one of auto, local, remote"));
}

Placement Place(PlacementMode mode, const job::Requirements& requirements, uint64_t memory_bytes,
                double complexity, const LocalCapacity& local, size_t live_peers,
                const PlacementPolicy& policy) {
  const std::optional<std::string> unmet = UnmetLocally(requirements, memory_bytes, local);
  if (mode == PlacementMode::kLocal) {
    return {true, unmet.has_value()
                      ? mesh::StrCat("local: placement is local, although ", *unmet)
                      : mesh::StrCat("local: placement is local (", Slots(local), ")")};
  }
  if (mode == PlacementMode::kRemote) {
    return {false, live_peers > 0
                       ? mesh::StrCat("remote: placement is remote (", Peers(live_peers), ")")
                       : "remote: placement is remote; waiting for peers (none live)"};
  }

  const bool free_slot = !local.draining && local.running < local.max_concurrent;
  const std::string weight = Fixed2(complexity);
  if (policy.execute_locally && !unmet.has_value() && free_slot) {
    if (complexity < policy.delegate_complexity) {
      return {true, mesh::StrCat("local: free slot (", Slots(local), "), complexity ", weight)};
    }
    if (live_peers == 0) {
      return {true, mesh::StrCat("local: free slot (", Slots(local), "), complexity ", weight,
                                 " but no live peers to delegate to")};
    }
  }
  // Why this node is not the place, in order of what is hardest to change.
  std::string why;
  if (!policy.execute_locally) {
    why = "this node does not run its own jobs (execute_locally is off)";
  } else if (unmet.has_value()) {
    why = mesh::StrCat("this node cannot run it: ", *unmet);
  } else if (!free_slot) {
    why = local.draining ? "this node is draining"
                         : mesh::StrCat("no free slot (", Slots(local), ")");
  } else {
    why = mesh::StrCat("complexity ", weight, " >= ", Fixed2(policy.delegate_complexity));
  }
  if (live_peers > 0) return {false, mesh::StrCat("remote: ", why, "; ", Peers(live_peers))};
  // No peers. A job this node merely has no slot for waits in the local queue; one it cannot
  // or must not run waits for peers instead.
  if (policy.execute_locally && !unmet.has_value()) {
    return {true, mesh::StrCat("local: ", why, " and no live peers; queued here")};
  }
  return {false, mesh::StrCat("remote: ", why, "; waiting for peers (none live)")};
}

}  // namespace mesh::sched
