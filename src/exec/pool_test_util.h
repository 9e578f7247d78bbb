// Test helpers for tests that start real mesh-worker processes: where the worker binary and
// the example jobs are (compile definitions from CMake), and requests built from examples.
// Test-only.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mesh/cas/cid.h"
#include "mesh/common/check.h"
#include "mesh/common/file_util.h"
#include "mesh/exec/worker_pool.h"
#include "mesh/wasm/aot_engine.h"

namespace mesh::exec::testing {

inline PoolOptions TestPoolOptions(int workers,
                                   wasm::EngineKind engine = wasm::EngineKind::kInterp) {
  PoolOptions options;
  options.worker_path = MESH_WORKER_PATH;
  options.workers = workers;
  options.engine = engine;
  options.default_limits.wall_time = absl::Seconds(30);
  // One aot cache per user, kept between test processes: each compiles a module only once.
  options.aot_cache_dir =
      ::testing::TempDir() + "mesh-exec-test-aot-cache-" + std::to_string(::getuid());
  return options;
}

// Tests run against each engine; aot only where a C compiler is installed.
class EngineTest : public ::testing::TestWithParam<wasm::EngineKind> {
 protected:
  void SetUp() override {
    if (GetParam() == wasm::EngineKind::kAot && !wasm::AotAvailable({})) {
      GTEST_SKIP() << "no C compiler: the aot engine is not available";
    }
  }
  PoolOptions Options(int workers) const { return TestPoolOptions(workers, GetParam()); }
  std::unique_ptr<WorkerPool> StartPool(int workers) const {
    absl::StatusOr<std::unique_ptr<WorkerPool>> pool = WorkerPool::Start(Options(workers));
    MESH_CHECK(pool.ok());
    return *std::move(pool);
  }
};

inline std::string EngineTestName(const ::testing::TestParamInfo<wasm::EngineKind>& info) {
  return std::string(wasm::EngineName(info.param));
}

inline std::shared_ptr<const std::string> ExampleBytes(const std::string& name) {
  absl::StatusOr<std::string> bytes =
      ReadFileToString(std::string(MESH_EXAMPLES_DIR) + "/" + name + ".wasm", 64 << 20);
  MESH_CHECK(bytes.ok());
  return std::make_shared<const std::string>(*std::move(bytes));
}

inline RunRequest ModuleRequest(std::shared_ptr<const std::string> wasm,
                                std::string stdin_bytes = {}, std::vector<std::string> args = {}) {
  RunRequest r;
  r.module_id = cas::Cid::Of(*wasm).ToString();
  r.module_wasm = std::move(wasm);
  r.input.stdin_bytes = std::move(stdin_bytes);
  r.input.args = std::move(args);
  return r;
}

inline RunRequest ExampleRequest(const std::string& name, std::string stdin_bytes = {},
                                 std::vector<std::string> args = {}) {
  return ModuleRequest(ExampleBytes(name), std::move(stdin_bytes), std::move(args));
}

// Polls `done` until it holds or `timeout` passes; for waiting on other processes, which no
// fake clock can advance.
inline bool WaitUntil(const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// True while `pid` names a process (running or zombie).
// The text of /proc/PID/FILE ("status", "limits", ...); empty if the process is gone.
inline std::string ReadProc(pid_t pid, const std::string& file) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline bool ProcessExists(pid_t pid) {
  return ::access(("/proc/" + std::to_string(pid)).c_str(), F_OK) == 0;
}

}  // namespace mesh::exec::testing
