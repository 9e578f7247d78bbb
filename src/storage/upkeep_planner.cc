#include "mesh/storage/upkeep_planner.h"

#include <algorithm>

namespace mesh::storage {

int UpkeepPlanner::RepairThreshold(int k, int m) const {
  const int wanted = options_.repair_threshold > 0 ? options_.repair_threshold : k + (m + 1) / 2;
  return std::clamp(wanted, k, k + m - 1);
}

bool UpkeepPlanner::Lost(const HolderState& holder, absl::Time now) const {
  return holder.failures >= options_.max_failures || now - holder.last_ok > options_.grace;
}

UpkeepPlan UpkeepPlanner::Plan(absl::Time now, const std::vector<FileState>& files,
                               int repairs_running) {
  UpkeepPlan plan;
  std::vector<RepairAction> wanted;
  std::vector<AuditAction> lost_audits;  // after the others: a dead holder's may time out
  for (const FileState& f : files) {
    if (f.k == 0) continue;  // inline: no holders
    RepairAction repair{f.cid, {}, 0};
    for (size_t i = 0; i < f.holders.size(); ++i) {
      const HolderState& h = f.holders[i];
      // A lost holder is still audited: one that was only slow or away for a while (an
      // overloaded machine, a partition) passes again and counts again until its shard is
      // placed elsewhere. Otherwise a passing overload could leave a file lost for good.
      const bool lost = Lost(h, now);
      if (now - h.last_audit >= options_.audit_interval) {
        (lost ? lost_audits : plan.audits).push_back({f.cid, static_cast<int>(i)});
      }
      if (lost) {
        repair.shards.push_back(static_cast<int>(i));
        continue;
      }
      ++repair.healthy;
    }
    if (repair.healthy < f.k) {
      plan.lost.push_back(f.cid);
    } else if (!repair.shards.empty() && repair.healthy <= RepairThreshold(f.k, f.m)) {
      wanted.push_back(std::move(repair));
    }
  }
  plan.audits.insert(plan.audits.end(), lost_audits.begin(), lost_audits.end());
  // Most at risk first: fewest healthy holders above k.
  std::stable_sort(wanted.begin(), wanted.end(), [&](const RepairAction& a, const RepairAction& b) {
    return a.healthy < b.healthy;
  });
  int running = repairs_running;
  for (RepairAction& r : wanted) {
    if (running >= options_.max_repairs || now < budget_free_at_) {
      plan.deferred.push_back(r.file);
      continue;
    }
    uint64_t bytes = 0;
    for (const FileState& f : files) {
      if (f.cid == r.file) bytes = f.stored_bytes;
    }
    // Reading k shards and writing the lost ones moves about the file's stored bytes.
    const double seconds = static_cast<double>(bytes) / static_cast<double>(std::max<uint64_t>(
                                                            1, options_.repair_bytes_per_second));
    budget_free_at_ = std::max(now, budget_free_at_) + absl::Seconds(seconds);
    ++running;
    plan.repairs.push_back(std::move(r));
  }
  return plan;
}

}  // namespace mesh::storage
