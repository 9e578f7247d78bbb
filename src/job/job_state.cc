#include "mesh/job/job_state.h"

namespace mesh::job {

std::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return "queued";
    case JobState::kRunning:
      return "running";
    case JobState::kSucceeded:
      return "succeeded";
    case JobState::kFailed:
      return "failed";
    case JobState::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

std::optional<JobState> ParseJobState(std::string_view name) {
  for (JobState s : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded, JobState::kFailed,
                     JobState::kCancelled}) {
    if (JobStateName(s) == name) return s;
  }
  return std::nullopt;
}

std::string_view JobRoleName(JobRole role) {
  switch (role) {
    case JobRole::kLocal:
      return "local";
    case JobRole::kDelegated:
      return "delegated";
    case JobRole::kAssigned:
      return "assigned";
    case JobRole::kSplit:
      return "split";
  }
  return "unknown";
}

std::optional<JobRole> ParseJobRole(std::string_view name) {
  for (JobRole r : {JobRole::kLocal, JobRole::kDelegated, JobRole::kAssigned, JobRole::kSplit}) {
    if (JobRoleName(r) == name) return r;
  }
  return std::nullopt;
}

std::optional<int64_t> EtaMillis(absl::Time started, absl::Time now, double percent) {
  if (percent <= 0 || percent > 100 || now < started) return std::nullopt;
  return absl::ToInt64Milliseconds((now - started) * ((100.0 - percent) / percent));
}

bool CanMove(JobState from, JobState to) {
  switch (from) {
    case JobState::kQueued:
      return to == JobState::kRunning || to == JobState::kCancelled || to == JobState::kFailed;
    case JobState::kRunning:
      return to == JobState::kQueued || IsTerminal(to);
    default:
      return false;  // terminal states are final
  }
}

}  // namespace mesh::job
