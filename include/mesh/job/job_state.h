// The states of a job on a node and the legal moves between them. A job is queued, runs, and
// ends exactly once as succeeded, failed or cancelled; a node that restarts puts jobs it found
// running back in the queue (running -> queued is the one move backwards). Pure; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/time/time.h"

namespace mesh::job {

enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };

std::string_view JobStateName(JobState state);  // "queued", "running", ...
std::optional<JobState> ParseJobState(std::string_view name);
inline bool IsTerminal(JobState s) {
  return s == JobState::kSucceeded || s == JobState::kFailed || s == JobState::kCancelled;
}
bool CanMove(JobState from, JobState to);

// Whose job it is on this node: submitted and run here (local), submitted here and placed on
// another node by the market (delegated), run here for another node (assigned), or split into
// chunks here (split). Stored by name.
enum class JobRole { kLocal, kDelegated, kAssigned, kSplit };
std::string_view JobRoleName(JobRole role);  // "local", "delegated", "assigned", "split"
std::optional<JobRole> ParseJobRole(std::string_view name);

// The time a run has left if the rest goes as fast as the part done so far (`percent` of it
// done since `started`); nullopt before any progress.
std::optional<int64_t> EtaMillis(absl::Time started, absl::Time now, double percent);

}  // namespace mesh::job
