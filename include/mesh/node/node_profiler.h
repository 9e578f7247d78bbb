// NodeProfiler: this node's HostProfile, kept up to date for the API, the CLI and the market.
//
// Start() collects the profile on a thread of its own (hwloc and /proc take milliseconds the
// node's start-up should not wait for; meshd starts it once ready), then the speed score: from
// <data_dir>/speed.json when that was measured on the same CPU model, mesh version, engine and
// kernel, else by running the calibration kernel once through the node's JobRunner (about 50 ms of
// run; an aot node's first start compiles the kernel first, once). It then hands the profile to
// `on_ready`, which the node uses to advertise the derived capabilities and the score.
//
// Thread-safe. Stop() promises that `on_ready` is not running and will not run; Join() waits
// for the thread (call it once the runner can no longer block, i.e. after the pool stopped).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mesh/node/host_profile.h"
#include "mesh/node/job_runner.h"

namespace mesh::node {

// The calibration kernel: a WASM command without imports whose _start runs `iterations` rounds
// of xorshift64 and stores the result, so no compiler can skip the loop. Fuel is exact and the
// same on every engine; only the time differs.
std::string CalibrationModule(uint64_t iterations);
// Rounds that take some 50 ms on this machine's engine ("aot" or "interp").
uint64_t CalibrationIterations(std::string_view engine);
// Fuel per second from a run's fuel and CPU time (wall time when the CPU time reads 0).
uint64_t FuelPerSecond(uint64_t fuel, absl::Duration cpu_time, absl::Duration wall_time);

class NodeProfiler {
 public:
  using OnReady = std::function<void(const HostProfile&)>;
  // `runner` must outlive Join(). `collect` reads the machine (CollectHostProfile by default).
  NodeProfiler(
      std::filesystem::path data_dir, std::string version, JobRunner* runner, OnReady on_ready,
      std::function<HostProfile(const std::filesystem::path&)> collect = CollectHostProfile);
  ~NodeProfiler();

  void Start();  // once; later calls do nothing
  // What is known so far: empty until collected; fuel_per_second 0 until measured.
  HostProfile Get() const ABSL_LOCKS_EXCLUDED(mu_);
  bool ready() const ABSL_LOCKS_EXCLUDED(mu_);
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  void Join();

 private:
  void Run();
  absl::StatusOr<uint64_t> Measure(const std::string& engine);

  const std::filesystem::path data_dir_;
  const std::string version_;
  JobRunner* const runner_;
  const OnReady on_ready_;
  const std::function<HostProfile(const std::filesystem::path&)> collect_;
  mutable absl::Mutex mu_;
  HostProfile profile_ ABSL_GUARDED_BY(mu_);
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace mesh::node
