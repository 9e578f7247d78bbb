// JSON forms of the sched policies (selection.h, bidding.h): the node's config and the API
// speak these. Absent keys keep their defaults; unknown keys and bad values are errors that
// name the JSON path.
#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/sched/bidding.h"
#include "mesh/sched/selection.h"

namespace mesh::sched {
namespace {

using nlohmann::json;

absl::Status PathError(std::string_view key, std::string_view what) {
  return absl::InvalidArgumentError(mesh::StrCat("/", key, ": ", what));
}

absl::Status CheckObject(const json& j, std::string_view what,
                         std::initializer_list<std::string_view> keys) {
  if (!j.is_object()) return absl::InvalidArgumentError(mesh::StrCat(what, " must be an object"));
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (std::string_view k : keys) known = known || k == key;
    if (!known) return PathError(key, "unknown field");
  }
  return absl::OkStatus();
}

// Numbers keep `value` when absent; a boolean is not a number.
absl::Status ReadDouble(const json& j, std::string_view key, double min, double max,
                        double& value) {
  auto it = j.find(std::string(key));
  if (it == j.end()) return absl::OkStatus();
  if (!it->is_number()) return PathError(key, "must be a number");
  const double d = it->get<double>();
  if (!std::isfinite(d) || d < min || d > max) {
    return PathError(key, mesh::StrCat("must be a number between ", min, " and ", max));
  }
  value = d;
  return absl::OkStatus();
}

absl::Status ReadUnsigned(const json& j, std::string_view key, uint64_t min, uint64_t max,
                          uint64_t& value) {
  auto it = j.find(std::string(key));
  if (it == j.end()) return absl::OkStatus();
  if (!it->is_number_integer() || (!it->is_number_unsigned() && it->get<int64_t>() < 0)) {
    return PathError(key, "must be a non-negative integer");
  }
  const uint64_t n = it->get<uint64_t>();
  if (n < min || n > max) {
    return PathError(key, mesh::StrCat("must be between ", min, " and ", max));
  }
  value = n;
  return absl::OkStatus();
}

}  // namespace

json ToJson(const SelectionPolicy& p) {
  return {{"price_weight", p.price_weight},
          {"reputation_weight", p.reputation_weight},
          {"resources_weight", p.resources_weight},
          {"latency_weight", p.latency_weight},
          {"finish_weight", p.finish_weight},
          {"default_reputation", p.default_reputation},
          {"latency_half_ms", absl::ToDoubleMilliseconds(p.latency_half)}};
}

absl::StatusOr<SelectionPolicy> SelectionPolicyFromJson(const json& j) {
  MESH_RETURN_IF_ERROR(
      CheckObject(j, "selection policy",
                  {"price_weight", "reputation_weight", "resources_weight", "latency_weight",
                   "finish_weight", "default_reputation", "latency_half_ms"}));
  constexpr double kMaxWeight = 1e6;
  SelectionPolicy p;
  MESH_RETURN_IF_ERROR(ReadDouble(j, "price_weight", 0, kMaxWeight, p.price_weight));
  MESH_RETURN_IF_ERROR(ReadDouble(j, "reputation_weight", 0, kMaxWeight, p.reputation_weight));
  MESH_RETURN_IF_ERROR(ReadDouble(j, "resources_weight", 0, kMaxWeight, p.resources_weight));
  MESH_RETURN_IF_ERROR(ReadDouble(j, "latency_weight", 0, kMaxWeight, p.latency_weight));
  // Counted only when bids carry speed scores: the other weights must not all be 0.
  MESH_RETURN_IF_ERROR(ReadDouble(j, "finish_weight", 0, kMaxWeight, p.finish_weight));
  if (p.price_weight + p.reputation_weight + p.resources_weight + p.latency_weight <= 0) {
    return absl::InvalidArgumentError(
        "selection policy: price_weight, reputation_weight, resources_weight and latency_weight "
        "are all 0; give at least one a positive weight");
  }
  MESH_RETURN_IF_ERROR(ReadDouble(j, "default_reputation", 0, 1, p.default_reputation));
  double half_ms = absl::ToDoubleMilliseconds(p.latency_half);
  MESH_RETURN_IF_ERROR(ReadDouble(j, "latency_half_ms", 0.001, 60000, half_ms));
  p.latency_half = absl::Microseconds(std::llround(half_ms * 1000));
  return p;
}

json ToJson(const PricingPolicy& p) {
  return {{"base_fee", p.base_fee},
          {"rate_per_gfuel", p.rate_per_gfuel},
          {"load_markup", p.load_markup},
          {"max_queue", p.max_queue},
          {"bid_validity_ms", absl::ToInt64Milliseconds(p.bid_validity)}};
}

absl::StatusOr<PricingPolicy> PricingPolicyFromJson(const json& j) {
  MESH_RETURN_IF_ERROR(
      CheckObject(j, "pricing policy",
                  {"base_fee", "rate_per_gfuel", "load_markup", "max_queue", "bid_validity_ms"}));
  constexpr uint64_t kMaxPrice = std::numeric_limits<int64_t>::max();
  PricingPolicy p;
  MESH_RETURN_IF_ERROR(ReadUnsigned(j, "base_fee", 0, kMaxPrice, p.base_fee));
  MESH_RETURN_IF_ERROR(ReadUnsigned(j, "rate_per_gfuel", 0, kMaxPrice, p.rate_per_gfuel));
  MESH_RETURN_IF_ERROR(ReadDouble(j, "load_markup", 0, 100, p.load_markup));
  uint64_t max_queue = p.max_queue;
  MESH_RETURN_IF_ERROR(ReadUnsigned(j, "max_queue", 0, 1 << 20, max_queue));
  p.max_queue = static_cast<uint32_t>(max_queue);
  uint64_t validity_ms = absl::ToInt64Milliseconds(p.bid_validity);
  MESH_RETURN_IF_ERROR(ReadUnsigned(j, "bid_validity_ms", 1, 86'400'000, validity_ms));
  p.bid_validity = absl::Milliseconds(validity_ms);
  return p;
}

}  // namespace mesh::sched
