// MeshService's private parts (mesh_shell.h): metrics, and how a local run ended.
#include "mesh_shell.h"

#include <algorithm>

namespace mesh::node {

MeshService::Metrics::Metrics(MetricsRegistry& r)
    : blob_bytes(
          r.AddCounter("mesh_net_blob_bytes_fetched_total", "Bytes of blobs fetched from peers")),
      delegated_seconds(r.AddHistogram("mesh_market_delegated_job_seconds",
                                       "Submission to verified result of delegated jobs",
                                       ExponentialBuckets(0.001, 4, 10))) {
  using C = market::Counter;
  market = {
      {C::kAnnounced,
       r.AddCounter("mesh_market_announcements_total", "Auction rounds this node opened")},
      {C::kBids, r.AddCounter("mesh_market_bids_received_total", "Bids received")},
      {C::kDeclines,
       r.AddCounter("mesh_market_declines_received_total", "Declines received, by code", {"code"})},
      {C::kClosed,
       r.AddCounter("mesh_market_auctions_closed_total", "Auctions closed, by result", {"result"})},
      {C::kExecutorFailures,
       r.AddCounter("mesh_market_executor_failures_total",
                    "Delegated runs lost: executor dead, late, refused or a bad receipt")},
      {C::kReceipts,
       r.AddCounter("mesh_market_receipts_total", "Receipts received, by result", {"result"})},
      {C::kBidsSent, r.AddCounter("mesh_market_bids_sent_total", "Bids this node made")},
      {C::kDeclinesSent, r.AddCounter("mesh_market_declines_sent_total",
                                      "Announcements this node declined, by code", {"code"})},
      {C::kAssignments,
       r.AddCounter("mesh_market_assignments_total", "Jobs other nodes assigned to this node")},
      {C::kOutvoted,
       r.AddCounter("mesh_verify_outvoted_total",
                    "Replica results outvoted by the majority (not paid, penalised)")},
  };
}

market::LocalRunEnd LocalRunEndOf(const JobRecord& job, cas::BlobStore& blobs) {
  market::LocalRunEnd e;
  e.job_id = job.id;
  e.origin = job.peer;
  e.origin_address = job.peer_address;
  e.round = job.round;
  if (EndedByRestart(job)) {
    // Failed by a restart of this node, not by a run: an executor's error, so the submitter
    // goes to its next candidate rather than fetch an output there is none of.
    e.error = true;
    e.message = job.reason;
  }
  e.state = job.state;
  e.outcome = job.outcome;
  e.exit_code = job.exit_code;
  e.output_cid = job.output_cid;
  if (absl::StatusOr<cas::Cid> cid = cas::Cid::Parse(job.output_cid); cid.ok()) {
    if (absl::StatusOr<cas::BlobInfo> info = blobs.Stat(*cid); info.ok())
      e.output_bytes = info->size;
  }
  e.fuel_used = job.fuel_used;
  e.report_json = job.report_json;
  e.reason = job.reason;
  e.started_at = job.started_at;
  e.finished_at = job.finished_at;
  return e;
}

}  // namespace mesh::node
