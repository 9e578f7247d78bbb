// JobRunner: what the compute service needs from whatever runs a job — the sandboxed worker
// pool in a node (PoolRunner), a hand-written fake in tests. Run() blocks until the job ends;
// Cancel() ends a running job started with the same tag, whose Run() then returns Cancelled.
// Implementations are thread-safe.
#pragma once

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
};

// Runs jobs in a WorkerPool it does not own.
class PoolRunner final : public JobRunner {
 public:
  explicit PoolRunner(exec::WorkerPool* pool) : pool_(pool) {}
  absl::StatusOr<wasm::RunResult> Run(exec::RunRequest request) override {
    return pool_->Run(std::move(request));
  }
  bool Cancel(uint64_t tag) override { return pool_->Cancel(tag); }
  std::string engine() const override { return std::string(wasm::EngineName(pool_->engine())); }

 private:
  exec::WorkerPool* pool_;
};

}  // namespace mesh::node
