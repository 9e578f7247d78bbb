// JobRunner: what the compute service needs from whatever runs a job — the sandboxed worker
// pool in a node (PoolRunner), a hand-written fake in tests. Run() blocks until the job ends;
// Cancel() ends a running job started with the same tag, whose Run() then returns Cancelled.
// Implementations are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "mesh/exec/worker_pool.h"
#include "mesh/wasm/engine.h"

namespace mesh::node {

class JobRunner {
 public:
  virtual ~JobRunner() = default;
  virtual absl::StatusOr<wasm::RunResult> Run(exec::RunRequest request) = 0;
  virtual bool Cancel(uint64_t tag) = 0;
  virtual std::string engine() const = 0;
  // The aot compile queue's counts (all zero on the interpreter, or without a pool).
  virtual exec::CompileStats compiles() const { return {}; }
};

// Runs jobs in a WorkerPool it does not own. The node makes it before the pool has started
// (the pool starts beside the node's other parts) and attaches the pool before anything can run
// a job: until then Run is Unavailable and Cancel finds nothing.
class PoolRunner final : public JobRunner {
 public:
  PoolRunner() = default;
  explicit PoolRunner(exec::WorkerPool* pool) : pool_(pool) {}
  void Attach(exec::WorkerPool* pool) { pool_.store(pool, std::memory_order_release); }
  absl::StatusOr<wasm::RunResult> Run(exec::RunRequest request) override {
    exec::WorkerPool* pool = pool_.load(std::memory_order_acquire);
    if (pool == nullptr) return absl::UnavailableError("the worker pool has not started");
    return pool->Run(std::move(request));
  }
  bool Cancel(uint64_t tag) override {
    exec::WorkerPool* pool = pool_.load(std::memory_order_acquire);
    return pool != nullptr && pool->Cancel(tag);
  }
  std::string engine() const override {
    exec::WorkerPool* pool = pool_.load(std::memory_order_acquire);
    return pool != nullptr ? std::string(wasm::EngineName(pool->engine())) : "none";
  }
  exec::CompileStats compiles() const override {
    exec::WorkerPool* pool = pool_.load(std::memory_order_acquire);
    return pool != nullptr ? pool->stats().compiles : exec::CompileStats{};
  }

 private:
  std::atomic<exec::WorkerPool*> pool_{nullptr};
};

}  // namespace mesh::node
