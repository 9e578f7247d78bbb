#include "mesh/node/market_records.h"

#include <algorithm>

#include "mesh/cas/dir_manifest.h"
#include "mesh/node/compute_service.h"

namespace mesh::node {

market::MarketOptions MarketOptionsOf(const MeshOptions& o, std::string self, std::string address) {
  market::MarketOptions m;
  m.self = std::move(self);
  m.address = std::move(address);
  m.bid_window = o.bid_window;
  m.enough_bids = o.enough_bids;
  m.no_bid_retry = o.no_bid_retry;
  m.receipt_grace = o.receipt_grace;
  m.dead_after = o.dead_after;
  m.announce_ttl = o.announce_ttl;
  m.lease_ttl = o.lease;
  m.beyond_fanout = static_cast<size_t>(o.beyond_fanout);
  m.selection = o.selection;
  m.pricing = o.pricing;
  m.placement = o.placement;
  m.retry = o.retry;
  return m;
}

membership::MembershipOptions MembershipOptionsOf(const MeshOptions& o) {
  membership::MembershipOptions m;
  m.active_size = o.active_view;
  m.passive_size = o.passive_view;
  m.probe_every = o.heartbeat;
  m.dead_after = o.dead_after;
  m.shuffle_active = std::min(m.shuffle_active, m.active_size);
  m.shuffle_passive = std::min(m.shuffle_passive, m.passive_size);
  return m;
}

uint64_t BlobSize(cas::BlobStore& blobs, const std::string& text) {
  absl::StatusOr<cas::Cid> cid = cas::Cid::Parse(text);
  if (!cid.ok()) return 0;
  absl::StatusOr<cas::BlobInfo> info = blobs.Stat(*cid);
  return info.ok() ? info->size : 0;
}

uint64_t InputBytes(cas::BlobStore& blobs, const job::JobSpec& spec) {
  uint64_t total = 0;
  for (const std::string& input : spec.inputs) total += BlobSize(blobs, input);
  // A mounted tree's files are input too: what an executor fetches, what placement weighs.
  for (const job::JobMount& mount : spec.mounts) {
    absl::StatusOr<cas::Cid> cid = cas::Cid::Parse(mount.cid);
    if (!cid.ok()) continue;
    if (cid->codec() != cas::Codec::kDagJson) {
      total += BlobSize(blobs, mount.cid);
      continue;
    }
    if (absl::StatusOr<cas::DirManifest> tree = cas::GetManifest(blobs, *cid); tree.ok()) {
      total += tree->TotalFileBytes();
    }
  }
  return total;
}

market::Ticket TicketOf(const JobRecord& job, cas::BlobStore& blobs, JobStore& jobs) {
  market::Ticket t;
  t.id = job.id;
  t.spec = job.spec;
  t.envelope = job.envelope;
  t.submitted_at = job.submitted_at;
  t.round = job.round;
  t.attempts = job.attempts;
  t.peer = job.peer;
  t.was_running = job.state == job::JobState::kRunning;
  if (job.attempts > 0 || t.was_running) {
    // Resumed after a restart: a checkpoint an executor sent before is where it goes on.
    if (absl::StatusOr<std::vector<HistoryBlock>> history = jobs.History(job.id); history.ok()) {
      t.checkpoint = LatestCheckpoint(*history);
    }
  }
  t.module_bytes = BlobSize(blobs, job.spec.module);
  t.input_bytes = InputBytes(blobs, job.spec);
  return t;
}

market::LocalRunEnd RunEndOf(const JobRecord& job, cas::BlobStore& blobs) {
  market::LocalRunEnd e;
  e.job_id = job.id;
  e.origin = job.peer;
  e.origin_address = job.peer_address;
  e.round = job.round;
  if (EndedByRestart(job)) {
    e.error = true;
    e.message = job.reason;
  }
  e.state = job.state;
  e.outcome = job.outcome;
  e.exit_code = job.exit_code;
  e.output_cid = job.output_cid;
  e.output_bytes = BlobSize(blobs, job.output_cid);
  e.files_cid = job.files_cid;
  e.fuel_used = job.fuel_used;
  e.report_json = job.report_json;
  e.reason = job.reason;
  e.started_at = job.started_at;
  e.finished_at = job.finished_at;
  return e;
}

JobRecord WithResult(JobRecord job, const market::JobResult& r) {
  job.state = r.state;
  job.reason = r.reason;
  job.outcome = r.outcome;
  job.exit_code = r.exit_code;
  job.fuel_used = r.fuel_used;
  job.output_cid = r.output_cid;
  job.files_cid = r.files_cid;
  job.report_json = r.report_json;
  if (!r.peer.empty()) {
    job.peer = r.peer;
    job.round = r.round;
  }
  job.attempts = std::max(job.attempts, r.attempts);
  if (r.started_at != absl::UnixEpoch()) job.started_at = r.started_at;
  job.finished_at = r.finished_at;
  return job;
}

std::vector<MarketWrite> WritesOf(const std::vector<const market::Persist*>& persists) {
  std::vector<MarketWrite> batch;
  for (const market::Persist* p : persists) {
    MarketWrite& w = batch.emplace_back();
    w.job_id = p->job_id;
    w.requeue = p->requeue;
    if (p->market.has_value()) {
      w.market = MarketWrite::Market{p->market->role, p->market->peer, p->market->peer_address,
                                     p->market->round};
    }
    for (const market::Block& b : p->blocks) w.blocks.emplace_back(b.phase, b.detail);
  }
  return batch;
}

}  // namespace mesh::node
