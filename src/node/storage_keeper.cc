#include "mesh/node/storage_keeper.h"

#include <utility>

#include "mesh/common/strings.h"
#include "spdlog/spdlog.h"

namespace mesh::node {

StorageKeeper::StorageKeeper(StorageKeeperOptions options, std::string self_did, FileStore* files,
                             StoreDb* db, Settlement* settlement, const Clock* clock,
                             MetricsRegistry* metrics)
    : options_(options),
      self_(std::move(self_did)),
      files_(files),
      db_(db),
      settlement_(settlement),
      clock_(clock),
      audits_(metrics->AddCounter("mesh_storage_audits_total",
                                  "Audits of the holders of this node's stored files, by result",
                                  {"result"})),
      repairs_(metrics->AddCounter("mesh_storage_repairs_total",
                                   "Shards of this node's stored files rebuilt and placed anew "
                                   "(repaired) or not (failed)",
                                   {"result"})),
      lost_(metrics->AddGauge("mesh_storage_files_lost",
                              "Stored files with fewer than k healthy holders")),
      rent_(metrics->AddCounter("mesh_storage_rent_credits_total",
                                "Credits of storage rent paid to holders, or owed and refused "
                                "for want of credit",
                                {"result"})),
      planner_(options.upkeep) {}

StorageKeeper::~StorageKeeper() { Stop(); }

void StorageKeeper::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(options_.tick)) RunOnce();
  });
}

void StorageKeeper::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void StorageKeeper::Penalise(const std::string& did, ledger::ReputationEvent event) {
  if (settlement_ == nullptr) return;
  absl::StatusOr<ledger::Reputation> r = settlement_->reputation().Record(did, event);
  if (!r.ok()) spdlog::warn("reputation of holder {}: {}", did, r.status().ToString());
}

UpkeepReport StorageKeeper::RunOnce() {
  absl::MutexLock lock(&mu_);
  UpkeepReport report;
  absl::StatusOr<std::vector<StoredFileRecord>> files = db_->Files("", 100'000);
  if (!files.ok()) {
    spdlog::warn("storage upkeep: {}", files.status().ToString());
    return report;
  }
  std::vector<storage::FileState> states;
  for (const StoredFileRecord& f : *files) {
    if (f.k == 0) continue;
    storage::FileState s{f.cid, f.k, f.m, f.stored_bytes, {}};
    for (const ShardPlacement& h : f.holders) {
      s.holders.push_back({h.last_ok, h.last_audit, h.failures});
    }
    states.push_back(std::move(s));
  }
  auto record_of = [&](const std::string& cid) -> const StoredFileRecord* {
    for (const StoredFileRecord& f : *files) {
      if (f.cid == cid) return &f;
    }
    return nullptr;
  };
  const storage::UpkeepPlan plan = planner_.Plan(clock_->Now(), states, 0);
  size_t audited = 0;
  for (const storage::AuditAction& a : plan.audits) {
    // Stop() waits for the tick: it ends after the audit in flight.
    if (audited++ == options_.max_audits_per_tick || stop_.HasBeenNotified()) break;
    const StoredFileRecord* f = record_of(a.file);
    if (f == nullptr || a.shard >= static_cast<int>(f->holders.size())) continue;
    const std::string& did = f->holders[a.shard].did;
    absl::StatusOr<AuditResult> result = files_->Audit(*f, a.shard);
    if (!result.ok()) {
      spdlog::warn("audit of {} shard {}: {}", a.file, a.shard, result.status().ToString());
      continue;
    }
    switch (result->outcome) {
      case AuditOutcome::kPassed:
        ++report.audits_passed;
        audits_->WithLabels({"passed"})->Inc();
        break;
      case AuditOutcome::kFailed:
        ++report.audits_failed;
        audits_->WithLabels({"failed"})->Inc();
        spdlog::warn("holder {} failed an audit of {} shard {}: {}", did, a.file, a.shard,
                     result->detail);
        Penalise(did, ledger::ReputationEvent::kFailure);
        break;
      case AuditOutcome::kNoAnswer:
        ++report.audits_unanswered;
        audits_->WithLabels({"unanswered"})->Inc();
        Penalise(did, ledger::ReputationEvent::kTimeout);
        break;
    }
  }
  for (const storage::RepairAction& r : plan.repairs) {
    if (stop_.HasBeenNotified()) break;
    const StoredFileRecord* f = record_of(r.file);
    if (f == nullptr) continue;
    spdlog::info("stored file {}: {} healthy holders of {}; repairing {} shard(s)", r.file,
                 r.healthy, f->k + f->m, r.shards.size());
    absl::StatusOr<RepairResult> result = files_->Repair(*f, r.shards);
    if (!result.ok()) {
      report.repairs_failed += static_cast<int>(r.shards.size());
      repairs_->WithLabels({"failed"})->Inc(static_cast<double>(r.shards.size()));
      spdlog::warn("repair of {}: {}", r.file, result.status().ToString());
      continue;
    }
    report.shards_repaired += static_cast<int>(result->repaired.size());
    report.repairs_failed += static_cast<int>(result->failed.size());
    repairs_->WithLabels({"repaired"})->Inc(static_cast<double>(result->repaired.size()));
    if (!result->failed.empty()) {
      repairs_->WithLabels({"failed"})->Inc(static_cast<double>(result->failed.size()));
      for (const std::string& why : result->failed) {
        spdlog::warn("repair of {}: {}", r.file, why);
      }
    }
  }
  report.lost = plan.lost;
  for (const std::string& cid : plan.lost) {
    if (reported_lost_.insert(cid).second) {
      spdlog::error(
          "stored file {} has fewer than k healthy holders: it cannot be rebuilt "
          "unless they come back",
          cid);
    }
  }
  lost_->Set(static_cast<double>(plan.lost.size()));
  if (settlement_ != nullptr && options_.rent_per_gib_hour > 0) {
    const absl::Time now = clock_->Now();
    absl::StatusOr<std::vector<StoredFileRecord>> fresh = db_->Files("", 100'000);
    if (fresh.ok()) {
      for (const StoredFileRecord& f : *fresh) PayRent(f, now, report);
    }
  }
  return report;
}

void StorageKeeper::PayRent(const StoredFileRecord& file, absl::Time now, UpkeepReport& report) {
  if (file.holders.empty()) return;
  constexpr unsigned __int128 kGibMillihours = (1ull << 30) * 3'600'000ull;
  const uint64_t bytes = file.stored_bytes / file.holders.size();
  const unsigned __int128 rate =
      static_cast<unsigned __int128>(bytes) * static_cast<uint64_t>(options_.rent_per_gib_hour);
  if (rate == 0) return;
  const std::string payer = file.user.empty() ? self_ : file.user;
  for (const ShardPlacement& h : file.holders) {
    const int64_t owed_ms = absl::ToInt64Milliseconds(now - h.paid_until);
    if (owed_ms <= 0) continue;
    if (h.failures > 0) {  // not in good standing: this time is not paid
      db_->SetPaidUntil(file.cid, h.index, now).IgnoreError();
      continue;
    }
    const unsigned __int128 owed = rate * static_cast<uint64_t>(owed_ms) / kGibMillihours;
    if (owed == 0) continue;  // less than a credit so far
    const int64_t amount = static_cast<int64_t>(std::min<unsigned __int128>(owed, INT64_MAX / 2));
    // The time those credits cover (the remainder waits for the next payment).
    const int64_t covered_ms = static_cast<int64_t>(
        (static_cast<unsigned __int128>(amount) * kGibMillihours + rate - 1) / rate);
    const std::string key =
        mesh::StrCat("store:", file.cid, ":", h.index, ":", absl::ToUnixMillis(h.paid_until));
    absl::StatusOr<ledger::Posted> paid = settlement_->ledger().Transfer(
        payer, h.did, amount, key, mesh::StrCat("storage rent: shard ", h.index, " of ", file.cid));
    if (!paid.ok()) {
      ++report.rent_refused;
      rent_->WithLabels({"refused"})->Inc(static_cast<double>(amount));
      spdlog::warn("storage rent of {} to {}: {}", file.cid, h.did, paid.status().ToString());
      continue;
    }
    report.rent_paid += amount;
    rent_->WithLabels({"paid"})->Inc(static_cast<double>(amount));
    db_->SetPaidUntil(file.cid, h.index,
                      h.paid_until + absl::Milliseconds(std::min(covered_ms, owed_ms)))
        .IgnoreError();
  }
}

}  // namespace mesh::node
