#include "mesh/wasm/instrumenter.h"

#include <wabt/binary-reader-ir.h>
#include <wabt/binary-reader.h>
#include <wabt/binary-writer.h>
#include <wabt/cast.h>
#include <wabt/ir.h>
#include <wabt/stream.h>
#include <wabt/validator.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "counted_loop.h"
#include "job_features.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::wasm {
namespace {

using internal::CountedLoop;
using internal::MatchCountedLoop;
using wabt::Const;
using wabt::ExprList;
using wabt::ExprType;
using wabt::Index;
using wabt::Opcode;
using wabt::Var;

Var V(Index index) { return Var(index, wabt::Location()); }

absl::Status ErrorsToStatus(const wabt::Errors& errors, std::string_view stage) {
  for (const auto& e : errors) {
    if (e.error_level != wabt::ErrorLevel::Error) continue;
    return absl::InvalidArgumentError(mesh::StrCat("invalid module (", stage, ") at byte offset ",
                                                   e.loc.offset, ": ", e.message));
  }
  return absl::InvalidArgumentError(mesh::StrCat("invalid module (", stage, ")"));
}

absl::StatusOr<ValType> ToValType(wabt::Type t, const wabt::FuncImport& import) {
  switch (t) {
    case wabt::Type::I32:
      return ValType::kI32;
    case wabt::Type::I64:
      return ValType::kI64;
    case wabt::Type::F32:
      return ValType::kF32;
    case wabt::Type::F64:
      return ValType::kF64;
    default:
      return absl::UnimplementedError(mesh::StrCat("import ", import.module_name, ".",
                                                   import.field_name, " uses type ", t.GetName(),
                                                   "; only i32, i64, f32 and f64 are supported"));
  }
}

// Rewrites one function. Keeps a list of the module's globals and a scratch local for bulk ops.
class FuncInstrumenter {
 public:
  FuncInstrumenter(wabt::Module& module, wabt::Func& func, Index func_index, Index fuel_global,
                   Index depth_global, Index grow_failed_global, Index func_global)
      : module_(module),
        func_(func),
        func_index_(func_index),
        fuel_(fuel_global),
        depth_(depth_global),
        grow_failed_(grow_failed_global),
        func_global_(func_global) {}

  void Run() {
    // The fuel counter lives in a local while this function runs, so compiled code keeps it in
    // a register; the global is synchronised around calls and on exit (see SyncOut/SyncIn).
    fuel_local_ = func_.GetNumParamsAndLocals();
    func_.local_types.AppendDecl(wabt::Type::I64, 1);
    // The body is wrapped in one block below: branches to the function's own label then land
    // on the wrapper (same relative depth), and Walk rewrites each `return` as a branch to it,
    // so every exit passes the epilogue. +1: the call itself, so an empty function costs fuel.
    const uint64_t entry_cost = 1 + Walk(func_.exprs, /*label_depth=*/0);
    code_units_ += entry_cost;

    auto wrapper = std::make_unique<wabt::BlockExpr>();
    wrapper->block.decl = BlockDeclFor(func_.decl.sig.result_types);
    wrapper->block.exprs = std::move(func_.exprs);

    // Remember the caller's function index in a fresh local and restore it on the way out.
    const Index saved = func_.GetNumParamsAndLocals();
    func_.local_types.AppendDecl(wabt::Type::I32, 1);
    ExprList body;
    body.push_back(std::make_unique<wabt::GlobalGetExpr>(V(func_global_)));
    body.push_back(std::make_unique<wabt::LocalSetExpr>(V(saved)));
    body.push_back(std::make_unique<wabt::ConstExpr>(Const::I32(func_index_)));
    body.push_back(std::make_unique<wabt::GlobalSetExpr>(V(func_global_)));
    AppendDepthIncrement(body);
    AppendSyncIn(body);
    AppendCharge(body, entry_cost);
    body.push_back(std::move(wrapper));
    AppendSyncOut(body);
    AppendDepthDecrement(body);
    body.push_back(std::make_unique<wabt::LocalGetExpr>(V(saved)));
    body.push_back(std::make_unique<wabt::GlobalSetExpr>(V(func_global_)));
    func_.exprs = std::move(body);
  }

  uint64_t code_units() const { return code_units_; }
  uint64_t counted_loops() const { return counted_loops_; }
  void set_count_loops(bool on) { count_loops_ = on; }

 private:
  // Instruments `list` in place and returns the static cost of the code in it that runs
  // without passing a loop header (loops pay for their own bodies).
  uint64_t Walk(ExprList& list, Index label_depth) {
    uint64_t cost = 0;
    for (auto it = list.begin(); it != list.end(); ++it) {
      ++cost;
      wabt::Expr& e = *it;
      switch (e.type()) {
        case ExprType::Block:
          cost += Walk(wabt::cast<wabt::BlockExpr>(&e)->block.exprs, label_depth + 1);
          break;
        case ExprType::If: {
          auto* if_expr = wabt::cast<wabt::IfExpr>(&e);
          cost += Walk(if_expr->true_.exprs, label_depth + 1);
          cost += Walk(if_expr->false_, label_depth + 1);
          break;
        }
        case ExprType::Loop:
          WalkLoop(list, it, label_depth);
          break;
        case ExprType::Return: {
          // Branch to the wrapper block instead, so the depth counter is decremented.
          auto br = std::make_unique<wabt::BrExpr>(Var(label_depth, e.loc));
          it = list.erase(it);
          it = list.insert(it, std::move(br));
          break;
        }
        case ExprType::MemoryFill:
        case ExprType::MemoryCopy:
        case ExprType::MemoryInit: {
          // The byte count is the operand on top of the stack: charge it, leave it there.
          ExprList charge;
          charge.push_back(std::make_unique<wabt::LocalTeeExpr>(V(ScratchLocal())));
          charge.push_back(std::make_unique<wabt::LocalGetExpr>(V(fuel_local_)));
          charge.push_back(std::make_unique<wabt::LocalGetExpr>(V(ScratchLocal())));
          charge.push_back(std::make_unique<wabt::ConvertExpr>(Opcode::I64ExtendI32U));
          charge.push_back(std::make_unique<wabt::BinaryExpr>(Opcode::I64Sub));
          AppendStoreAndCheckFuel(charge);
          list.splice(it, charge);
          break;
        }
        case ExprType::Call:
        case ExprType::CallIndirect: {
          // The callee (or the host) reads and charges the global: hand it the counter and
          // take back what is left.
          ExprList before, after;
          AppendSyncOut(before);
          AppendSyncIn(after);
          list.splice(it, before);
          auto next = std::next(it);
          list.splice(next, after);
          it = std::prev(next);
          break;
        }
        case ExprType::MemoryGrow: {
          // After the grow: count a failure (-1) and leave the result on the stack.
          ExprList check;
          check.push_back(std::make_unique<wabt::LocalTeeExpr>(V(ScratchLocal())));
          check.push_back(std::make_unique<wabt::ConstExpr>(Const::I32(0xffffffff)));
          check.push_back(std::make_unique<wabt::CompareExpr>(Opcode::I32Eq));
          auto mark = std::make_unique<wabt::IfExpr>();
          mark->true_.exprs.push_back(std::make_unique<wabt::GlobalGetExpr>(V(grow_failed_)));
          mark->true_.exprs.push_back(std::make_unique<wabt::ConstExpr>(Const::I32(1)));
          mark->true_.exprs.push_back(std::make_unique<wabt::BinaryExpr>(Opcode::I32Add));
          mark->true_.exprs.push_back(std::make_unique<wabt::GlobalSetExpr>(V(grow_failed_)));
          check.push_back(std::move(mark));
          check.push_back(std::make_unique<wabt::LocalGetExpr>(V(ScratchLocal())));
          auto next = std::next(it);
          list.splice(next, check);
          it = std::prev(next);
          break;
        }
        default:
          break;
      }
    }
    return cost;
  }

  // Instruments the loop at `it` (and what it holds). A counted leaf loop is replaced by its
  // dispatch, and `it` moved to the dispatch's last instruction. Apart from Walk and never
  // inlined: Walk recurses once per nesting level, and this case's locals (the counted loop, its
  // copy, the dispatch) would otherwise widen every level's frame: the instrumenter must fit a
  // module at the nesting limit in a small stack (wasm_hostile_test).

  [[gnu::noinline]] void WalkLoop(ExprList& list, ExprList::iterator& it, Index label_depth) {
    auto* loop = wabt::cast<wabt::LoopExpr>(&*it);
    // A counted leaf loop also gets an unmetered copy, taken before the loop is instrumented;
    // the original becomes the per-iteration path (see CountedLoop). Matching and dispatching
    // happen in frames of their own, so only a pointer of theirs stays on this level's stack.
    std::unique_ptr<CountedLoop> counted = count_loops_ ? MatchCountedLoop(*loop) : nullptr;
    const Index body_depth = label_depth + (counted ? 2 : 1);
    const uint64_t body_cost = Walk(loop->block.exprs, body_depth);
    ChargeLoop(list, it, body_cost, body_depth, std::move(counted));
  }

  // Charges the walked loop at `it` per iteration, and, if it is a counted one, replaces it by
  // its dispatch and moves `it` to the dispatch's last instruction.
  [[gnu::noinline]] void ChargeLoop(ExprList& list, ExprList::iterator& it, uint64_t body_cost,
                                    Index body_depth, std::unique_ptr<CountedLoop> counted) {
    auto& body = wabt::cast<wabt::LoopExpr>(&*it)->block.exprs;
    code_units_ += body_cost;
    ExprList charge;
    AppendCharge(charge, body_cost);
    body.splice(body.begin(), charge);
    if (!counted) return;
    // The copy has no loops, calls or bulk ops: Walk only marks its memory.grow results, and its
    // cost is the same as the original's.
    Walk(counted->unmetered->block.exprs, body_depth);
    auto next = std::next(it);
    std::unique_ptr<wabt::Expr> metered = list.extract(it);
    ExprList dispatch = ChargeOnceOrPerIteration(*counted, body_cost, std::move(metered));
    list.splice(next, dispatch);
    it = std::prev(next);
    ++counted_loops_;
  }

  // Replaces a counted loop by:
  //   trips = its trip count if the entry values prove it, else 0
  //   if (trips != 0 && trips <= fuel / cost) { fuel -= trips * cost; <unmetered copy> }
  //   else { <the loop, charged per iteration> }
  // An i32 loop with a body cost below 2^31 compares need = trips * cost (below 2^63, so no
  // overflow) with the fuel instead: one value the compiler keeps for the entry, where the
  // division kept its reciprocal, the trip count and the product in registers through the loop
  // (matmul 1000's inner loop then spilled its bound to the stack).
  // The two tests are the same: trips <= floor(fuel / cost) exactly when trips * cost <= fuel.
  // With s = |step| and d = bound - i (step > 0) or i - bound (step < 0), both modulo 2^width:
  // if d != 0 and s divides d, the latch first sees i == bound after exactly d / s iterations
  // (the k*s for k < d/s are nonzero and below d < 2^width, so never congruent to it). Any other
  // entry (d == 0 wraps all the way round, an odd d with an even step never ends) takes the
  // per-iteration path. So does a budget too small for the whole loop: it runs out of fuel at
  // the same iteration, with the same effects, as before. Fuel published to the global (calls,
  // traps, exit) is the same on both paths, as the loop has no calls.
  ExprList ChargeOnceOrPerIteration(CountedLoop& loop, uint64_t cost,
                                    std::unique_ptr<wabt::Expr> metered) {
    const bool w64 = loop.is_i64;
    const uint64_t mask = w64 ? ~uint64_t{0} : uint64_t{0xffffffff};
    const bool negative = (loop.step >> (w64 ? 63 : 31)) & 1;
    const uint64_t magnitude = negative ? (uint64_t{0} - loop.step) & mask : loop.step;
    auto constant = [&](uint64_t v) {
      return std::make_unique<wabt::ConstExpr>(w64 ? Const::I64(v)
                                                   : Const::I32(static_cast<uint32_t>(v)));
    };
    auto bound = [&]() -> std::unique_ptr<wabt::Expr> {
      if (loop.bound_local) return std::make_unique<wabt::LocalGetExpr>(V(*loop.bound_local));
      return constant(loop.bound_const);
    };
    const Index distance = w64 ? ScratchLocal64(0) : ScratchLocal();
    const Index trips = ScratchLocal64(1);
    ExprList out;
    // d
    if (negative) {
      out.push_back(std::make_unique<wabt::LocalGetExpr>(V(loop.induction)));
      out.push_back(bound());
    } else {
      out.push_back(bound());
      out.push_back(std::make_unique<wabt::LocalGetExpr>(V(loop.induction)));
    }
    out.push_back(std::make_unique<wabt::BinaryExpr>(w64 ? Opcode::I64Sub : Opcode::I32Sub));
    out.push_back(std::make_unique<wabt::LocalTeeExpr>(V(distance)));
    // trips = d / s, or 0 when s does not divide d (d == 0 gives 0 by itself)
    if (magnitude != 1) {
      out.push_back(constant(magnitude));
      out.push_back(std::make_unique<wabt::BinaryExpr>(w64 ? Opcode::I64DivU : Opcode::I32DivU));
    }
    if (!w64) out.push_back(std::make_unique<wabt::ConvertExpr>(Opcode::I64ExtendI32U));
    if (magnitude != 1) {
      out.push_back(std::make_unique<wabt::ConstExpr>(Const::I64(0)));
      out.push_back(std::make_unique<wabt::LocalGetExpr>(V(distance)));
      out.push_back(constant(magnitude));
      out.push_back(std::make_unique<wabt::BinaryExpr>(w64 ? Opcode::I64RemU : Opcode::I32RemU));
      out.push_back(std::make_unique<wabt::ConvertExpr>(w64 ? Opcode::I64Eqz : Opcode::I32Eqz));
      out.push_back(std::make_unique<wabt::SelectExpr>(wabt::TypeVector{}));
    }
    const bool by_product = !w64 && cost < (uint64_t{1} << 31);
    if (by_product) {
      // need = trips * cost, kept in `trips`' local (zero exactly when trips is: cost > 0)
      out.push_back(std::make_unique<wabt::ConstExpr>(Const::I64(static_cast<int64_t>(cost))));
      out.push_back(std::make_unique<wabt::BinaryExpr>(Opcode::I64Mul));
      out.push_back(std::make_unique<wabt::LocalTeeExpr>(V(trips)));
      // need <= fuel (fuel >= 0 here)
      out.push_back(std::make_unique<wabt::LocalGetExpr>(V(fuel_local_)));
      out.push_back(std::make_unique<wabt::CompareExpr>(Opcode::I64LeU));
    } else {
      out.push_back(std::make_unique<wabt::LocalTeeExpr>(V(trips)));
      // trips <= fuel / cost (no overflow: fuel >= 0 here, and trips * cost <= fuel below)
      out.push_back(std::make_unique<wabt::LocalGetExpr>(V(fuel_local_)));
      out.push_back(std::make_unique<wabt::ConstExpr>(Const::I64(static_cast<int64_t>(cost))));
      out.push_back(std::make_unique<wabt::BinaryExpr>(Opcode::I64DivU));
      out.push_back(std::make_unique<wabt::CompareExpr>(Opcode::I64LeU));
    }
    out.push_back(std::make_unique<wabt::LocalGetExpr>(V(trips)));
    out.push_back(std::make_unique<wabt::ConstExpr>(Const::I64(0)));
    out.push_back(std::make_unique<wabt::CompareExpr>(Opcode::I64Ne));
    out.push_back(std::make_unique<wabt::BinaryExpr>(Opcode::I32And));
    auto dispatch = std::make_unique<wabt::IfExpr>();
    auto& once = dispatch->true_.exprs;
    once.push_back(std::make_unique<wabt::LocalGetExpr>(V(fuel_local_)));
    once.push_back(std::make_unique<wabt::LocalGetExpr>(V(trips)));
    if (!by_product) {
      once.push_back(std::make_unique<wabt::ConstExpr>(Const::I64(static_cast<int64_t>(cost))));
      once.push_back(std::make_unique<wabt::BinaryExpr>(Opcode::I64Mul));
    }
    once.push_back(std::make_unique<wabt::BinaryExpr>(Opcode::I64Sub));
    once.push_back(std::make_unique<wabt::LocalSetExpr>(V(fuel_local_)));
    once.push_back(std::move(loop.unmetered));
    dispatch->false_.push_back(std::move(metered));
    out.push_back(std::move(dispatch));
    return out;
  }

  wabt::BlockDeclaration BlockDeclFor(const wabt::TypeVector& results) {
    wabt::BlockDeclaration decl;
    decl.sig.result_types = results;
    if (results.size() > 1) {
      // Multi-value blocks need a type index: reuse a matching [] -> results type or add one.
      wabt::FuncSignature sig;
      sig.result_types = results;
      Index index = module_.GetFuncTypeIndex(sig);
      if (index == wabt::kInvalidIndex) {
        auto field = std::make_unique<wabt::TypeModuleField>();
        auto type = std::make_unique<wabt::FuncType>();
        type->sig = sig;
        field->type = std::move(type);
        module_.AppendField(std::move(field));
        index = static_cast<Index>(module_.types.size() - 1);
      }
      decl.has_func_type = true;
      decl.type_var = Var(index, wabt::Location());
    }
    return decl;
  }

  // Two i64 scratch locals for the counted-loop entry code, added on first use.
  Index ScratchLocal64(int which) {
    if (scratch64_ == wabt::kInvalidIndex) {
      scratch64_ = func_.GetNumParamsAndLocals();
      func_.local_types.AppendDecl(wabt::Type::I64, 2);
    }
    return scratch64_ + which;
  }

  Index ScratchLocal() {
    if (scratch_ == wabt::kInvalidIndex) {
      scratch_ = func_.GetNumParamsAndLocals();
      func_.local_types.AppendDecl(wabt::Type::I32, 1);
    }
    return scratch_;
  }

  void AppendCharge(ExprList& out, uint64_t cost) {
    if (cost == 0) return;
    out.push_back(std::make_unique<wabt::LocalGetExpr>(V(fuel_local_)));
    out.push_back(std::make_unique<wabt::ConstExpr>(Const::I64(static_cast<int64_t>(cost))));
    out.push_back(std::make_unique<wabt::BinaryExpr>(Opcode::I64Sub));
    AppendStoreAndCheckFuel(out);
  }

  // Expects the new fuel value on the stack: keeps it in the local and, if it is negative,
  // publishes it to the global (so the engine can tell exhaustion) and traps.
  void AppendStoreAndCheckFuel(ExprList& out) {
    out.push_back(std::make_unique<wabt::LocalTeeExpr>(V(fuel_local_)));
    out.push_back(std::make_unique<wabt::ConstExpr>(Const::I64(0)));
    out.push_back(std::make_unique<wabt::CompareExpr>(Opcode::I64LtS));
    auto trap = std::make_unique<wabt::IfExpr>();
    AppendSyncOut(trap->true_.exprs);
    trap->true_.exprs.push_back(std::make_unique<wabt::UnreachableExpr>());
    out.push_back(std::move(trap));
  }

  void AppendSyncIn(ExprList& out) {
    out.push_back(std::make_unique<wabt::GlobalGetExpr>(V(fuel_)));
    out.push_back(std::make_unique<wabt::LocalSetExpr>(V(fuel_local_)));
  }

  void AppendSyncOut(ExprList& out) {
    out.push_back(std::make_unique<wabt::LocalGetExpr>(V(fuel_local_)));
    out.push_back(std::make_unique<wabt::GlobalSetExpr>(V(fuel_)));
  }

  void AppendTrapIfTrue(ExprList& out) {
    auto trap = std::make_unique<wabt::IfExpr>();
    trap->true_.exprs.push_back(std::make_unique<wabt::UnreachableExpr>());
    out.push_back(std::move(trap));
  }

  void AppendDepthIncrement(ExprList& out) {
    out.push_back(std::make_unique<wabt::GlobalGetExpr>(V(depth_)));
    out.push_back(std::make_unique<wabt::ConstExpr>(Const::I32(1)));
    out.push_back(std::make_unique<wabt::BinaryExpr>(Opcode::I32Add));
    out.push_back(std::make_unique<wabt::GlobalSetExpr>(V(depth_)));
    out.push_back(std::make_unique<wabt::GlobalGetExpr>(V(depth_)));
    out.push_back(std::make_unique<wabt::ConstExpr>(Const::I32(kMaxCallDepth)));
    out.push_back(std::make_unique<wabt::CompareExpr>(Opcode::I32GtU));
    AppendTrapIfTrue(out);
  }

  void AppendDepthDecrement(ExprList& out) {
    out.push_back(std::make_unique<wabt::GlobalGetExpr>(V(depth_)));
    out.push_back(std::make_unique<wabt::ConstExpr>(Const::I32(1)));
    out.push_back(std::make_unique<wabt::BinaryExpr>(Opcode::I32Sub));
    out.push_back(std::make_unique<wabt::GlobalSetExpr>(V(depth_)));
  }

  wabt::Module& module_;
  wabt::Func& func_;
  const Index func_index_;
  const Index fuel_;
  const Index depth_;
  const Index grow_failed_;
  const Index func_global_;
  Index scratch_ = wabt::kInvalidIndex;
  Index scratch64_ = wabt::kInvalidIndex;
  bool count_loops_ = true;
  uint64_t counted_loops_ = 0;
  Index fuel_local_ = wabt::kInvalidIndex;
  uint64_t code_units_ = 0;
};

Index AddExportedGlobal(wabt::Module& module, wabt::Type type, std::string_view name) {
  auto field = std::make_unique<wabt::GlobalModuleField>();
  field->global.type = type;
  field->global.mutable_ = true;
  field->global.init_expr.push_back(
      std::make_unique<wabt::ConstExpr>(type == wabt::Type::I64 ? Const::I64(0) : Const::I32(0)));
  module.AppendField(std::move(field));
  const Index index = static_cast<Index>(module.globals.size() - 1);
  auto exp = std::make_unique<wabt::ExportModuleField>();
  exp->export_.name = std::string(name);
  exp->export_.kind = wabt::ExternalKind::Global;
  exp->export_.var = Var(index, wabt::Location());
  module.AppendField(std::move(exp));
  return index;
}

absl::Status CheckShape(const wabt::Module& module, InstrumentedModule& out) {
  for (const wabt::Import* import : module.imports) {
    if (import->kind() != wabt::ExternalKind::Func) {
      return absl::UnimplementedError(
          mesh::StrCat("unsupported import ", import->module_name, ".", import->field_name, " (a ",
                       wabt::GetKindName(import->kind()),
                       "); jobs may import functions only and must define their own memory"));
    }
    const auto* func_import = wabt::cast<wabt::FuncImport>(import);
    const wabt::FuncSignature& sig = func_import->func.decl.sig;
    FuncImport fi{import->module_name, import->field_name, {}, {}};
    for (wabt::Type t : sig.param_types) {
      MESH_ASSIGN_OR_RETURN(ValType v, ToValType(t, *func_import));
      fi.params.push_back(v);
    }
    for (wabt::Type t : sig.result_types) {
      MESH_ASSIGN_OR_RETURN(ValType v, ToValType(t, *func_import));
      fi.results.push_back(v);
    }
    out.imports.push_back(std::move(fi));
  }
  for (const wabt::Export* exp : module.exports) {
    if (exp->name == kFuelExport || exp->name == kDepthExport || exp->name == kGrowFailedExport ||
        exp->name == kFuncExport) {
      return absl::InvalidArgumentError(
          mesh::StrCat("module exports the reserved name ", exp->name));
    }
  }
  const wabt::Export* start = module.GetExport("_start");
  if (start == nullptr || start->kind != wabt::ExternalKind::Func) {
    return absl::InvalidArgumentError(
        "module has no exported _start function; jobs must be WASI commands "
        "(build with clang --target=wasm32-wasi)");
  }
  const wabt::Func* start_func = module.GetFunc(start->var);
  if (start_func == nullptr || start_func->GetNumParams() != 0 ||
      start_func->GetNumResults() != 0) {
    return absl::InvalidArgumentError("_start must take no parameters and return nothing");
  }
  if (!module.starts.empty()) {
    // It would run during instantiation, before the host has set the fuel budget.
    return absl::InvalidArgumentError(
        "module has a start section; WASI commands run from _start and must not have one");
  }
  if (!module.memories.empty()) {
    out.initial_memory_bytes = module.memories[0]->page_limits.initial * 65536ull;
  }
  return absl::OkStatus();
}

// Gives every table the maximum it will have at run time (see InstrumentOptions::limits).
void CapTables(wabt::Module& module, const ModuleLimits& limits) {
  for (wabt::Table* table : module.tables) {
    wabt::Limits& l = table->elem_limits;
    if (!l.has_max) l.max = l.initial;
    l.max = std::min<uint64_t>(l.max, std::max<uint64_t>(l.initial, limits.max_table_entries));
    l.has_max = true;
  }
}

}  // namespace

absl::StatusOr<InstrumentedModule> Instrument(std::string_view wasm_bytes,
                                              InstrumentOptions options) {
  // First, before WABT sees a byte: its IR is a tree that its destructors and writer walk
  // recursively, so a nesting depth over the limit must never reach it.
  MESH_RETURN_IF_ERROR(CheckModuleLimits(wasm_bytes, options.limits));
  const wabt::Features features = JobFeatures();
  wabt::Errors errors;
  wabt::Module module;
  const wabt::ReadBinaryOptions read_options(features, nullptr, /*read_debug_names=*/true,
                                             /*stop_on_first_error=*/true,
                                             /*fail_on_custom_section_error=*/false);
  if (wabt::Failed(wabt::ReadBinaryIr("job.wasm", wasm_bytes.data(), wasm_bytes.size(),
                                      read_options, &errors, &module))) {
    return ErrorsToStatus(errors, "decode");
  }
  const wabt::ValidateOptions validate_options(features);
  if (wabt::Failed(wabt::ValidateModule(&module, &errors, validate_options))) {
    return ErrorsToStatus(errors, "validate");
  }

  InstrumentedModule out;
  MESH_RETURN_IF_ERROR(CheckShape(module, out));
  CapTables(module, options.limits);

  const Index fuel = AddExportedGlobal(module, wabt::Type::I64, kFuelExport);
  const Index depth = AddExportedGlobal(module, wabt::Type::I32, kDepthExport);
  const Index grow_failed = AddExportedGlobal(module, wabt::Type::I32, kGrowFailedExport);
  const Index func_global = AddExportedGlobal(module, wabt::Type::I32, kFuncExport);
  for (const auto& func : module.funcs) {
    std::string name = func->name;
    if (!name.empty() && name[0] == '$') name.erase(0, 1);
    out.function_names.push_back(std::move(name));
  }
  for (Index i = module.num_func_imports; options.metering && i < module.funcs.size(); ++i) {
    FuncInstrumenter fi(module, *module.funcs[i], i, fuel, depth, grow_failed, func_global);
    fi.set_count_loops(options.count_loops);
    fi.Run();
    out.code_units += fi.code_units();
    out.counted_loops += fi.counted_loops();
  }

  if (wabt::Failed(wabt::ValidateModule(&module, &errors, validate_options))) {
    return absl::InternalError(mesh::StrCat("instrumented module failed validation: ",
                                            ErrorsToStatus(errors, "instrumented").message()));
  }
  wabt::MemoryStream stream;
  const wabt::WriteBinaryOptions write_options(features, /*canonicalize_lebs=*/true,
                                               /*relocatable=*/false,
                                               /*write_debug_names=*/false);
  if (wabt::Failed(wabt::WriteBinaryModule(&stream, &module, write_options))) {
    return absl::InternalError("could not write the instrumented module");
  }
  const auto& data = stream.output_buffer().data;
  out.wasm.assign(reinterpret_cast<const char*>(data.data()), data.size());
  return out;
}

}  // namespace mesh::wasm

namespace mesh::wasm {

std::string FunctionLabel(const InstrumentedModule& module, int64_t index) {
  if (index < 0) return "";
  std::string label = mesh::StrCat("#", index);
  if (static_cast<uint64_t>(index) < module.function_names.size() &&
      !module.function_names[index].empty()) {
    label += mesh::StrCat(" (", module.function_names[index], ")");
  }
  return label;
}

}  // namespace mesh::wasm
