// Private to the wasm module: the counted leaf loops the instrumenter charges once on entry
// (see instrumenter.cc, FuncInstrumenter::WalkLoop): matching a loop's shape and making its
// unmetered copy. Pure functions over WABT's IR.
#pragma once

#include <wabt/ir.h>

#include <cstdint>
#include <memory>
#include <optional>

namespace mesh::wasm::internal {

// A counted leaf loop: `loop ... <i = i + step> (br_if 0 (i != bound)) end` whose body
// writes neither i (but in that latch) nor bound, branches nowhere outside itself and never
// back to its header but by the latch, and has no calls, inner loops or bulk memory ops.
// Each iteration is charged the same static cost, so a run of it costs trips x cost, and
// the trip count is known on entry. The fuel of any run stays what the per-iteration charge
// gives (see FuncInstrumenter::ChargeOnceOrPerIteration in instrumenter.cc).
struct CountedLoop {
  bool is_i64 = false;
  wabt::Index induction = 0;
  std::optional<wabt::Index> bound_local;  // else bound_const
  uint64_t bound_const = 0;
  uint64_t step = 0;  // modulo 2^width, nonzero
  std::unique_ptr<wabt::LoopExpr> unmetered;
};

// The loop's match, or null. On the heap and never inlined: it is called once per loop
// nesting level of the instrumenter's walk, whose frames must stay small.
[[gnu::noinline]] std::unique_ptr<CountedLoop> MatchCountedLoop(const wabt::LoopExpr& loop);

}  // namespace mesh::wasm::internal
