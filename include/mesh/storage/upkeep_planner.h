// What keeps stored files alive: UpkeepPlanner decides, from the state of each file's holders,
// which holders to audit now and which files to repair. A holder is lost once it failed
// `max_failures` audits in a row (a wrong answer or none) or has not passed one for `grace`; a
// file whose healthy holders fall to the repair threshold (above k, like Storj's) is repaired:
// its lost shards rebuilt from k others and placed on new peers. A file with fewer than k
// healthy holders is reported lost (repair cannot rebuild it). Every holder, lost ones too, is
// audited once per interval: a lost holder that passes again counts again. Repairs are
// rate-limited: at most
// `max_repairs` at once, and on average `repair_bytes_per_second` of stored bytes, so a failure
// never turns into a repair storm. The files most at risk are repaired first.
//
// Pure: the caller passes the time and the states, and carries out the plan. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace mesh::storage {

struct UpkeepOptions {
  absl::Duration audit_interval = absl::Hours(1);  // per holder
  absl::Duration grace = absl::Hours(4);           // no audit passed for this long: lost
  int max_failures = 3;                            // audits failed in a row: lost
  int repair_threshold = 0;  // healthy holders at or below which to repair; 0: the default
  uint64_t repair_bytes_per_second = 8 << 20;
  int max_repairs = 1;
};

struct HolderState {
  absl::Time last_ok;     // placed, or last audit passed
  absl::Time last_audit;  // last challenge sent (InfinitePast: never)
  int failures = 0;       // audits failed in a row
};

struct FileState {
  std::string cid;
  int k = 0;
  int m = 0;
  uint64_t stored_bytes = 0;
  std::vector<HolderState> holders;  // by shard index
};

struct AuditAction {
  std::string file;
  int shard = 0;
};

struct RepairAction {
  std::string file;
  std::vector<int> shards;  // the lost ones
  int healthy = 0;
};

struct UpkeepPlan {
  std::vector<AuditAction> audits;
  std::vector<RepairAction> repairs;
  std::vector<std::string> lost;      // fewer than k healthy holders
  std::vector<std::string> deferred;  // needs repair, waits for the rate limit
};

class UpkeepPlanner {
 public:
  explicit UpkeepPlanner(UpkeepOptions options) : options_(options) {}

  // `repairs_running`: repairs started earlier and not finished.
  UpkeepPlan Plan(absl::Time now, const std::vector<FileState>& files, int repairs_running);

  // The threshold used for a k+m file: the configured one clamped to [k, k+m-1], or by default
  // k + ceil(m/2) clamped the same way (4+2: repair at 5 healthy; 10+4: at 12; 1+1: at 1).
  int RepairThreshold(int k, int m) const;
  bool Lost(const HolderState& holder, absl::Time now) const;

 private:
  const UpkeepOptions options_;
  absl::Time budget_free_at_ = absl::InfinitePast();  // the next repair may start then
};

}  // namespace mesh::storage
