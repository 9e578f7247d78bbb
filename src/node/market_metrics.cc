#include "mesh/node/market_metrics.h"

namespace mesh::node {

MarketMetrics::MarketMetrics(MetricsRegistry& r)
    : blob_bytes_(
          r.AddCounter("mesh_net_blob_bytes_fetched_total", "Bytes of blobs fetched from peers")),
      delegated_seconds_(r.AddHistogram("mesh_market_delegated_job_seconds",
                                        "Submission to verified result of delegated jobs",
                                        ExponentialBuckets(0.001, 4, 10))),
      step_commits_(r.AddCounter("mesh_market_step_commits_total",
                                 "Transactions that recorded market steps, by result (several "
                                 "steps share one under load: group commit)",
                                 {"result"})),
      step_writes_(
          r.AddCounter("mesh_market_step_writes_total", "Market steps' Persist actions recorded")) {
  using C = market::Counter;
  counters_ = {
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
      {C::kLeaseAssigned,
       r.AddCounter("mesh_market_lease_assignments_total",
                    "Delegated jobs assigned on a lease, without an auction of their own, by "
                    "lease (split: a split job's chunks; jobs: jobs alike)",
                    {"lease"})},
      {C::kAskedBeyond,
       r.AddCounter("mesh_market_announcements_beyond_total",
                    "Announcements sent to nodes beyond the active view (the passive view), for "
                    "jobs no neighbour bid on, one per node asked")},
      {C::kRunAtHome,
       r.AddCounter("mesh_market_run_at_home_total",
                    "Jobs handed to the market that no peer bid on, run on this node after all")},
  };
}

void MarketMetrics::Count(const market::Count& c) {
  Counter* counter = counters_.at(c.counter);
  (c.label.empty() ? counter : counter->WithLabels({c.label}))->Inc(c.by);
}

void MarketMetrics::Committed(size_t transactions, size_t failed, size_t writes) {
  if (transactions > failed) step_commits_->WithLabels({"ok"})->Inc(double(transactions - failed));
  if (failed > 0) step_commits_->WithLabels({"failed"})->Inc(double(failed));
  if (writes > 0) step_writes_->Inc(double(writes));
}

void MarketMetrics::Observe(const market::Observe& o) {
  delegated_seconds_->Observe(absl::ToDoubleSeconds(o.delegated));
}

}  // namespace mesh::node
