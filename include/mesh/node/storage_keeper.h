// StorageKeeper: keeps this node's stored files alive. Every tick it reads the state of each
// file's holders (StoreDb), asks storage::UpkeepPlanner what to do, and does it: audits the
// holders that are due (FileStore::Audit; a wrong answer costs the holder reputation as a
// failure, no answer as a timeout), repairs the files whose healthy holders fell to the repair
// threshold (FileStore::Repair), reports files it can no longer rebuild, and pays rent: each
// holder in good standing (its last audit passed) earns `rent_per_gib_hour` credits per GiB it
// holds, moved in the ledger from the file's owner (the API user who stored it, else this
// node) to the holder, once per period (keyed: a retry never pays twice). A holder whose audits
// fail forfeits the rent of that time. Counted in /metrics (mesh_storage_audits_total,
// mesh_storage_repairs_total, mesh_storage_files_lost, mesh_storage_rent_credits_total).
//
// Start() runs the ticks on a thread of its own; RunOnce() is one tick (tests call it).
// Thread-safe.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "mesh/common/clock.h"
#include "mesh/common/metrics.h"
#include "mesh/node/file_store.h"
#include "mesh/node/settlement.h"
#include "mesh/node/store_db.h"
#include "mesh/storage/upkeep_planner.h"

namespace mesh::node {

struct StorageKeeperOptions {
  storage::UpkeepOptions upkeep;
  absl::Duration tick = absl::Seconds(30);
  size_t max_audits_per_tick = 64;
  int64_t rent_per_gib_hour = 10;  // credits; 0: storing is free
};

struct UpkeepReport {
  int audits_passed = 0;
  int audits_failed = 0;
  int audits_unanswered = 0;
  int shards_repaired = 0;
  int repairs_failed = 0;
  int64_t rent_paid = 0;          // credits
  int rent_refused = 0;           // payments the owner could not afford
  std::vector<std::string> lost;  // files with fewer than k healthy holders
};

class StorageKeeper {
 public:
  // `settlement` may be null (no reputation is recorded then).
  // `self_did` pays the rent of files stored by no API user.
  StorageKeeper(StorageKeeperOptions options, std::string self_did, FileStore* files, StoreDb* db,
                Settlement* settlement, const Clock* clock, MetricsRegistry* metrics);
  ~StorageKeeper();

  void Start();
  void Stop();  // idempotent; a tick in progress ends after its audit or repair in flight
  UpkeepReport RunOnce() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Penalise(const std::string& did, ledger::ReputationEvent event);
  void PayRent(const StoredFileRecord& file, absl::Time now, UpkeepReport& report);

  const StorageKeeperOptions options_;
  const std::string self_;
  FileStore* const files_;
  StoreDb* const db_;
  Settlement* const settlement_;
  const Clock* const clock_;
  Counter* audits_;
  Counter* repairs_;
  Gauge* lost_;
  Counter* rent_;

  absl::Mutex mu_;  // one tick at a time
  storage::UpkeepPlanner planner_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> reported_lost_ ABSL_GUARDED_BY(mu_);
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace mesh::node
