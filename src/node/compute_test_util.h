// Shared helpers for the tests that drive a ComputeService on its own runner threads
// (compute_service_test.cc, poison_job_test.cc): a fake runner and waits. Test-only.
#pragma once

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "mesh/job/job_state.h"
#include "mesh/node/compute_service.h"
#include "mesh/node/event_bus.h"
#include "mesh/wasm/job_host.h"

namespace mesh::node::computetest {

// Runs a job by echoing its stdin (100 fuel), reporting progress at 50%; the stdin "error" fails
// the run and "trap" ends it in a trap. While held, runs wait in Run until released or
// cancelled. A cancelled run's tag is forgotten once the run stops: a service opened again (a
// restart) numbers its runs from 1.
class HoldingRunner final : public JobRunner {
 public:
  absl::StatusOr<wasm::RunResult> Run(exec::RunRequest request) override {
    absl::MutexLock lock(&mu_);
    started_.push_back(mesh::wasm::StdinOf(request.input));
    active_.insert(request.tag);
    auto released = [this, &request]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !hold_ || cancelled_.contains(request.tag);
    };
    mu_.Await(absl::Condition(&released));
    active_.erase(request.tag);
    if (cancelled_.erase(request.tag) > 0) {
      return absl::CancelledError("job cancelled while running");
    }
    if (mesh::wasm::StdinOf(request.input) == "error") {
      return absl::InternalError("engine exploded");
    }
    if (request.input.on_progress) request.input.on_progress({50, "half", 7});
    wasm::RunResult result;
    result.output = mesh::wasm::StdinOf(request.input);
    result.report.fuel_used = 100;
    result.report.fuel_limit = request.limits->fuel;
    if (mesh::wasm::StdinOf(request.input) == "trap") {
      result.report.outcome = wasm::Outcome::kTrap;
      result.report.message = "unreachable executed";
    }
    return result;
  }
  bool Cancel(uint64_t tag) override {
    absl::MutexLock lock(&mu_);
    if (!active_.contains(tag)) return false;
    cancelled_.insert(tag);
    return true;
  }
  std::string engine() const override { return "fake"; }

  void Hold(bool hold) {
    absl::MutexLock lock(&mu_);
    hold_ = hold;
  }
  void AwaitRunning(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return active_.size() >= n; };
    mu_.Await(absl::Condition(&enough));
  }
  // The stdin of every run started, in order.
  std::vector<std::string> started() {
    absl::MutexLock lock(&mu_);
    return started_;
  }
  int runs() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(started_.size());
  }

 private:
  absl::Mutex mu_;
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> started_ ABSL_GUARDED_BY(mu_);
  std::set<uint64_t> active_ ABSL_GUARDED_BY(mu_);
  std::set<uint64_t> cancelled_ ABSL_GUARDED_BY(mu_);
};

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
