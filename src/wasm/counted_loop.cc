#include "counted_loop.h"

#include <wabt/cast.h>

#include <cstddef>
#include <utility>
#include <vector>

namespace mesh::wasm::internal {
namespace {

using wabt::Const;
using wabt::ExprList;
using wabt::ExprType;
using wabt::Index;
using wabt::Opcode;

// Leaf loops larger than this keep the per-iteration charge: the copy doubles their code,
// and in a loop that long one subtract-and-branch is noise.
constexpr size_t kMaxCountedLoopExprs = 256;

const wabt::Var* LocalOf(const wabt::Expr& e, ExprType type) {
  if (e.type() != type) return nullptr;
  const wabt::Var& var = type == ExprType::LocalGet   ? wabt::cast<wabt::LocalGetExpr>(&e)->var
                         : type == ExprType::LocalSet ? wabt::cast<wabt::LocalSetExpr>(&e)->var
                                                      : wabt::cast<wabt::LocalTeeExpr>(&e)->var;
  return var.is_index() ? &var : nullptr;
}

// Matches `local.get i, T.const s, T.add|T.sub` (or `T.const s, local.get i, T.add`) at
// exprs[at..at+2] and sets the induction local, width and step.
bool MatchIncrement(const std::vector<const wabt::Expr*>& exprs, size_t at, CountedLoop& out) {
  if (at + 3 > exprs.size() || exprs[at + 2]->type() != ExprType::Binary) return false;
  const Opcode op = wabt::cast<wabt::BinaryExpr>(exprs[at + 2])->opcode;
  const bool add = op == Opcode::I32Add || op == Opcode::I64Add;
  const bool sub = op == Opcode::I32Sub || op == Opcode::I64Sub;
  if (!add && !sub) return false;
  out.is_i64 = op == Opcode::I64Add || op == Opcode::I64Sub;
  const wabt::Expr* get = exprs[at];
  const wabt::Expr* constant = exprs[at + 1];
  if (add && get->type() == ExprType::Const) std::swap(get, constant);
  const wabt::Var* var = LocalOf(*get, ExprType::LocalGet);
  if (var == nullptr || constant->type() != ExprType::Const) return false;
  const Const& c = wabt::cast<wabt::ConstExpr>(constant)->const_;
  const uint64_t mask = out.is_i64 ? ~uint64_t{0} : uint64_t{0xffffffff};
  const uint64_t value = out.is_i64 ? c.u64() : c.u32();
  out.induction = var->index();
  out.step = (add ? value : uint64_t{0} - value) & mask;
  return out.step != 0;
}

// The bound operand of the latch's compare: a local or a constant of the loop's width.
bool MatchBound(const wabt::Expr& e, CountedLoop& out) {
  if (const wabt::Var* var = LocalOf(e, ExprType::LocalGet)) {
    out.bound_local = var->index();
    return var->index() != out.induction;
  }
  if (e.type() != ExprType::Const) return false;
  const Const& c = wabt::cast<wabt::ConstExpr>(&e)->const_;
  out.bound_const = out.is_i64 ? c.u64() : c.u32();
  return true;
}

// The latch is the body's last instructions, in one of the forms clang emits:
//   inc, local.tee i, bound, T.ne, br_if 0      bound, inc, local.tee i, T.ne, br_if 0
//   inc, local.tee i, br_if 0                   (i32 only: i != 0)
// Returns the latch's local.tee (the one write of i allowed) or nullptr.
const wabt::Expr* MatchLatch(const ExprList& body, CountedLoop& out) {
  std::vector<const wabt::Expr*> tail;  // the last (up to) 7 exprs, in order
  for (auto it = body.rbegin(); it != body.rend() && tail.size() < 7; ++it) {
    tail.insert(tail.begin(), &*it);
  }
  const size_t n = tail.size();
  if (n < 5 || tail[n - 1]->type() != ExprType::BrIf) return nullptr;
  const wabt::Var& target = wabt::cast<wabt::BrIfExpr>(tail[n - 1])->var;
  if (!target.is_index() || target.index() != 0) return nullptr;
  auto tee_of_induction = [&](size_t at) -> const wabt::Expr* {
    const wabt::Var* var = LocalOf(*tail[at], ExprType::LocalTee);
    return var != nullptr && var->index() == out.induction ? tail[at] : nullptr;
  };
  // i != 0, the compare folded into br_if.
  if (MatchIncrement(tail, n - 5, out) && !out.is_i64) {
    out.bound_local.reset();
    out.bound_const = 0;
    if (const wabt::Expr* tee = tee_of_induction(n - 2)) return tee;
  }
  if (n < 7 || tail[n - 2]->type() != ExprType::Compare) return nullptr;
  const Opcode cmp = wabt::cast<wabt::CompareExpr>(tail[n - 2])->opcode;
  if (cmp != Opcode::I32Ne && cmp != Opcode::I64Ne) return nullptr;
  const bool cmp_i64 = cmp == Opcode::I64Ne;
  out = CountedLoop{};
  if (MatchIncrement(tail, n - 7, out) && out.is_i64 == cmp_i64 && MatchBound(*tail[n - 3], out)) {
    if (const wabt::Expr* tee = tee_of_induction(n - 4)) return tee;
  }
  out = CountedLoop{};
  if (MatchIncrement(tail, n - 6, out) && out.is_i64 == cmp_i64 && MatchBound(*tail[n - 7], out)) {
    if (const wabt::Expr* tee = tee_of_induction(n - 3)) return tee;
  }
  return nullptr;
}

// Copies `from` into `to` if every instruction in it may run uncharged inside a counted
// loop (see CountedLoop); false, with `to` partly filled, if not. `depth` is the number of
// labels between the instruction and the loop's own: a branch to depth or beyond would leave
// the loop or restart it, and make the trip count a bound rather than a count.
bool CopyLeafCode(const ExprList& from, ExprList& to, Index depth, const CountedLoop& loop,
                  const wabt::Expr* latch_tee, const wabt::Expr* latch_br, size_t& budget) {
  auto writes_loop_local = [&](const wabt::Expr& e, ExprType type) {
    const wabt::Var* var = LocalOf(e, type);
    if (var == nullptr) return true;
    if (var->index() == loop.induction) return &e != latch_tee;
    return loop.bound_local && var->index() == *loop.bound_local;
  };
  auto inside = [&](const wabt::Var& var) { return var.is_index() && var.index() < depth; };
  for (const wabt::Expr& e : from) {
    if (budget-- == 0) return false;
    std::unique_ptr<wabt::Expr> copy;
    switch (e.type()) {
      case ExprType::Binary:
        copy = std::make_unique<wabt::BinaryExpr>(wabt::cast<wabt::BinaryExpr>(&e)->opcode);
        break;
      case ExprType::Compare:
        copy = std::make_unique<wabt::CompareExpr>(wabt::cast<wabt::CompareExpr>(&e)->opcode);
        break;
      case ExprType::Convert:
        copy = std::make_unique<wabt::ConvertExpr>(wabt::cast<wabt::ConvertExpr>(&e)->opcode);
        break;
      case ExprType::Unary:
        copy = std::make_unique<wabt::UnaryExpr>(wabt::cast<wabt::UnaryExpr>(&e)->opcode);
        break;
      case ExprType::Ternary:
        copy = std::make_unique<wabt::TernaryExpr>(wabt::cast<wabt::TernaryExpr>(&e)->opcode);
        break;
      case ExprType::Const:
        copy = std::make_unique<wabt::ConstExpr>(wabt::cast<wabt::ConstExpr>(&e)->const_);
        break;
      case ExprType::Drop:
        copy = std::make_unique<wabt::DropExpr>();
        break;
      case ExprType::Nop:
        copy = std::make_unique<wabt::NopExpr>();
        break;
      case ExprType::Unreachable:
        copy = std::make_unique<wabt::UnreachableExpr>();
        break;
      case ExprType::Select:
        copy = std::make_unique<wabt::SelectExpr>(wabt::cast<wabt::SelectExpr>(&e)->result_type);
        break;
      case ExprType::LocalGet:
        copy = std::make_unique<wabt::LocalGetExpr>(wabt::cast<wabt::LocalGetExpr>(&e)->var);
        break;
      case ExprType::LocalSet:
        if (writes_loop_local(e, ExprType::LocalSet)) return false;
        copy = std::make_unique<wabt::LocalSetExpr>(wabt::cast<wabt::LocalSetExpr>(&e)->var);
        break;
      case ExprType::LocalTee:
        if (writes_loop_local(e, ExprType::LocalTee)) return false;
        copy = std::make_unique<wabt::LocalTeeExpr>(wabt::cast<wabt::LocalTeeExpr>(&e)->var);
        break;
      case ExprType::GlobalGet:
        copy = std::make_unique<wabt::GlobalGetExpr>(wabt::cast<wabt::GlobalGetExpr>(&e)->var);
        break;
      case ExprType::GlobalSet:
        copy = std::make_unique<wabt::GlobalSetExpr>(wabt::cast<wabt::GlobalSetExpr>(&e)->var);
        break;
      case ExprType::Load: {
        const auto* load = wabt::cast<wabt::LoadExpr>(&e);
        copy =
            std::make_unique<wabt::LoadExpr>(load->opcode, load->memidx, load->align, load->offset);
        break;
      }
      case ExprType::Store: {
        const auto* store = wabt::cast<wabt::StoreExpr>(&e);
        copy = std::make_unique<wabt::StoreExpr>(store->opcode, store->memidx, store->align,
                                                 store->offset);
        break;
      }
      case ExprType::MemorySize:
        copy = std::make_unique<wabt::MemorySizeExpr>(wabt::cast<wabt::MemorySizeExpr>(&e)->memidx);
        break;
      case ExprType::MemoryGrow:
        copy = std::make_unique<wabt::MemoryGrowExpr>(wabt::cast<wabt::MemoryGrowExpr>(&e)->memidx);
        break;
      case ExprType::Block: {
        const auto* block = wabt::cast<wabt::BlockExpr>(&e);
        auto b = std::make_unique<wabt::BlockExpr>();
        b->block.decl = block->block.decl;
        if (!CopyLeafCode(block->block.exprs, b->block.exprs, depth + 1, loop, latch_tee, latch_br,
                          budget)) {
          return false;
        }
        copy = std::move(b);
        break;
      }
      case ExprType::If: {
        const auto* if_expr = wabt::cast<wabt::IfExpr>(&e);
        auto i = std::make_unique<wabt::IfExpr>();
        i->true_.decl = if_expr->true_.decl;
        if (!CopyLeafCode(if_expr->true_.exprs, i->true_.exprs, depth + 1, loop, latch_tee,
                          latch_br, budget) ||
            !CopyLeafCode(if_expr->false_, i->false_, depth + 1, loop, latch_tee, latch_br,
                          budget)) {
          return false;
        }
        copy = std::move(i);
        break;
      }
      case ExprType::Br: {
        const wabt::Var& var = wabt::cast<wabt::BrExpr>(&e)->var;
        if (!inside(var)) return false;
        copy = std::make_unique<wabt::BrExpr>(var);
        break;
      }
      case ExprType::BrIf: {
        const wabt::Var& var = wabt::cast<wabt::BrIfExpr>(&e)->var;
        if (!inside(var) && &e != latch_br) return false;
        copy = std::make_unique<wabt::BrIfExpr>(var);
        break;
      }
      case ExprType::BrTable: {
        const auto* table = wabt::cast<wabt::BrTableExpr>(&e);
        if (!inside(table->default_target)) return false;
        for (const wabt::Var& var : table->targets) {
          if (!inside(var)) return false;
        }
        auto t = std::make_unique<wabt::BrTableExpr>();
        t->targets = table->targets;
        t->default_target = table->default_target;
        copy = std::move(t);
        break;
      }
      default:
        // Loops, calls, returns, bulk memory (charged per byte), tables, exceptions: the
        // per-iteration charge stays.
        return false;
    }
    to.push_back(std::move(copy));
  }
  return true;
}

}  // namespace

std::unique_ptr<CountedLoop> MatchCountedLoop(const wabt::LoopExpr& loop) {
  const wabt::FuncSignature& sig = loop.block.decl.sig;
  if (!sig.param_types.empty() || !sig.result_types.empty()) return nullptr;
  auto counted = std::make_unique<CountedLoop>();
  const wabt::Expr* latch_tee = MatchLatch(loop.block.exprs, *counted);
  if (latch_tee == nullptr) return nullptr;
  const wabt::Expr* latch_br = &*loop.block.exprs.rbegin();
  auto copy = std::make_unique<wabt::LoopExpr>();
  copy->block.decl = loop.block.decl;
  size_t budget = kMaxCountedLoopExprs;
  if (!CopyLeafCode(loop.block.exprs, copy->block.exprs, /*depth=*/0, *counted, latch_tee, latch_br,
                    budget)) {
    return nullptr;
  }
  counted->unmetered = std::move(copy);
  return counted;
}

}  // namespace mesh::wasm::internal
