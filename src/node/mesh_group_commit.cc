#include "mesh/node/mesh_group_commit.h"

#include <type_traits>

namespace mesh::node {

StepActionKind KindOf(const market::Action& action) {
  return std::visit(
      [](const auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, market::Persist>) {
          return StepActionKind::kWrite;
        } else if constexpr (std::is_same_v<T, market::Count> ||
                             std::is_same_v<T, market::Observe> || std::is_same_v<T, market::Log> ||
                             std::is_same_v<T, market::SetTimer>) {
          return StepActionKind::kImmediate;
        } else if constexpr (std::is_same_v<T, market::MarkRunning> ||
                             std::is_same_v<T, market::Finish> ||
                             std::is_same_v<T, market::RunHere> ||
                             std::is_same_v<T, market::RunAtHome>) {
          return StepActionKind::kBarrier;
        } else {
          return StepActionKind::kAfterCommit;
        }
      },
      action);
}

GroupCommitStats CarryOutSteps(const std::vector<const std::vector<market::Action>*>& steps,
                               const StepHooks& hooks) {
  GroupCommitStats stats;
  std::vector<const market::Persist*> writes;  // the open window's writes
  std::vector<const market::Action*> waiting;  // the open window's actions after its commit
  auto close_window = [&] {
    bool committed = true;
    if (!writes.empty()) {
      ++stats.commits;
      stats.writes += writes.size();
      committed = hooks.commit(writes).ok();
      if (!committed) ++stats.failed_commits;
    }
    for (const market::Action* action : waiting) {
      (committed ? hooks.carry_out : hooks.dropped)(*action);
    }
    writes.clear();
    waiting.clear();
  };
  for (const std::vector<market::Action>* step : steps) {
    for (const market::Action& action : *step) {
      switch (KindOf(action)) {
        case StepActionKind::kWrite:
          writes.push_back(&std::get<market::Persist>(action));
          break;
        case StepActionKind::kImmediate:
          hooks.carry_out(action);
          break;
        case StepActionKind::kBarrier:
          close_window();
          hooks.carry_out(action);
          break;
        case StepActionKind::kAfterCommit:
          waiting.push_back(&action);
          break;
      }
    }
  }
  close_window();
  return stats;
}

}  // namespace mesh::node
