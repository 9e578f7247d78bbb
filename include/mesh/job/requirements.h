// Requirements: what a job needs from the node that runs it (cores, memory, storage,
// capabilities, federations, trust scope, reputation, price). Part of a JobSpec
// (spec.requirements) and of the market's Announce. RequirementsFromJson reads untrusted JSON
// and names the JSON path of a bad field. Plain value type; the functions are pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace mesh::job {

// Capability, federation and zone names: 1..kMaxNameLength characters of [A-Za-z0-9._:-].
inline constexpr size_t kMaxNameLength = 64;
bool IsValidName(std::string_view name);

// What a job needs from an executor (also part of JobSpec: spec.requirements).
struct Requirements {
  uint32_t cpu_cores = 0;     // 0 = any
  uint64_t memory_bytes = 0;  // 0 = the job's memory limit
  uint64_t storage_bytes = 0;
  std::vector<std::string> capabilities;  // all must be offered
  std::vector<std::string> federations;   // executor must be in at least one (empty = any)
  std::string trust_scope = "any";        // "any" | "federation" | "known" (peers in table)
  double min_reputation = 0;              // 0..1
  uint64_t max_price = 0;                 // credits; 0 = no limit

  friend bool operator==(const Requirements&, const Requirements&) = default;
};

nlohmann::json ToJson(const Requirements& requirements);
// `path` is the JSON path of the object ("/requirements"); errors name it and the field.
// Capability and federation names are 1..64 characters of [A-Za-z0-9._:-], at most 32 each.
absl::StatusOr<Requirements> RequirementsFromJson(const nlohmann::json& json,
                                                  std::string_view path);

}  // namespace mesh::job
