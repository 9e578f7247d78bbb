// Group commit of market steps: the actions of several steps, in step order, with the Persist
// actions of consecutive steps written in one store transaction instead of one each.
//
// Why: a delegated job's steps each wrote their own SQLite transaction, and a commit (WAL
// frames, checkpoints) was the largest single cost of a delegated job on the serial executor.
// Under load several steps wait for the executor at once; their writes can share one commit.
//
// The rules that keep the semantics of one transaction per step:
//  - Durability: an action whose effect leaves the node or depends on the recorded state (a
//    Send, a Fetch, a Pay or Refund, a standing, an event, stopping a run) is carried out only
//    after the commit that holds the writes of its own step and of every step before it.
//  - Order: an action that writes the job store itself (MarkRunning, Finish, RunHere) is a
//    barrier: the writes before it are committed, and what waited for them carried out, first.
//    So a job's history blocks keep the order in which the steps made them.
//  - Failure: if a commit fails, the transaction rolls back every step of its window, and none of
//    the actions that waited for it is carried out (each goes to `dropped` instead, so that the
//    shell can tell the core a send or fetch failed). Nothing is sent for state never recorded.
//  - Metrics, logs and the core's timer carry no state of their own: they are done at once.
#pragma once

#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "mesh/market/market.h"

namespace mesh::node {

struct StepHooks {
  // Writes these Persist actions (of one or more steps, in order) in one transaction: all or
  // none. Not called with an empty list.
  std::function<absl::Status(const std::vector<const market::Persist*>&)> commit;
  // Carries out one action that is not a Persist.
  std::function<void(const market::Action&)> carry_out;
  // An action not carried out because the commit it waited for failed.
  std::function<void(const market::Action&)> dropped;
};

// How CarryOutSteps treats an action (exposed for the tests).
enum class StepActionKind {
  kWrite,        // Persist: joins the open transaction
  kImmediate,    // Count, Observe, Log, SetTimer: at once
  kBarrier,      // MarkRunning, Finish, RunHere: commit first, then carry out
  kAfterCommit,  // everything else: after the commit of the writes before it
};
StepActionKind KindOf(const market::Action& action);

struct GroupCommitStats {
  size_t commits = 0;  // transactions written
  size_t failed_commits = 0;
  size_t writes = 0;  // Persist actions written
};

// Carries out `steps` (each a step's actions, in step order) under the rules above.
GroupCommitStats CarryOutSteps(const std::vector<const std::vector<market::Action>*>& steps,
                               const StepHooks& hooks);

}  // namespace mesh::node
