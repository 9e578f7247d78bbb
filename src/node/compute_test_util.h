// Shared helpers for the tests that drive a ComputeService on its own runner threads
// (compute_service_test.cc, poison_job_test.cc). Test-only.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "mesh/job/job_state.h"
#include "mesh/node/compute_service.h"
#include "mesh/node/event_bus.h"

namespace mesh::node::computetest {

// The job once it has ended (waited for in real time: the service runs on its own threads); a
// test failure and an empty record if it has not ended within 10 s.
inline JobRecord AwaitEnd(ComputeService& service, const std::string& id) {
  for (int i = 0; i < 2000; ++i) {
    absl::StatusOr<JobRecord> job = service.Get(id);
    if (job.ok() && job::IsTerminal(job->state)) return *job;
    absl::SleepFor(absl::Milliseconds(5));
  }
  ADD_FAILURE() << "job " << id << " did not end";
  return {};
}

// The types of the events published for job `id`, oldest first.
inline std::vector<std::string> EventTypes(EventBus& events, const std::string& id) {
  std::vector<std::string> types;
  for (const Event& e : events.Since(0, id).events) types.push_back(e.type);
  return types;
}

}  // namespace mesh::node::computetest
