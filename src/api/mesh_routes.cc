// ApiService's mesh routes: GET /v1/peers, GET /v1/jobs/{id}/history (the job's hash-linked
// history blocks) and GET /v1/jobs/{id}/explain (why the job runs where it runs: the placement,
// and per auction round every bid's score and every filtered bid's and decline's reason).
#include "api_json.h"
#include "mesh/api/api_service.h"
#include "mesh/common/strings.h"

namespace mesh::api {
namespace {

using json = nlohmann::json;

json BlockToJson(const node::HistoryBlock& b) {
  return {{"cid", b.cid},
          {"prev", b.prev.empty() ? json(nullptr) : json(b.prev)},
          {"phase", b.phase},
          {"at", absl::FormatTime(absl::RFC3339_full, b.at, absl::UTCTimeZone())},
          {"detail", b.detail}};
}

}  // namespace

HttpResponse ApiService::JobHistory(const std::string& id) {
  absl::StatusOr<node::JobRecord> job = node_->compute().Get(id);
  if (!job.ok()) return StatusResponse(job.status());
  absl::StatusOr<std::vector<node::HistoryBlock>> blocks = node_->jobs().History(id);
  if (!blocks.ok()) return StatusResponse(blocks.status());
  json out = json::array();
  for (const node::HistoryBlock& b : *blocks) out.push_back(BlockToJson(b));
  return JsonResponse(200, {{"job", id}, {"head", job->history_head}, {"blocks", out}});
}

HttpResponse ApiService::ExplainJob(const std::string& id) {
  absl::StatusOr<node::JobRecord> job = node_->compute().Get(id);
  if (!job.ok()) return StatusResponse(job.status());
  absl::StatusOr<std::vector<node::HistoryBlock>> blocks = node_->jobs().History(id);
  if (!blocks.ok()) return StatusResponse(blocks.status());
  json explain = {{"job", id},
                  {"state", job::JobStateName(job->state)},
                  {"phase", job->phase},
                  {"placement", job->role == job::JobRole::kDelegated ? "market" : "local"},
                  {"rounds", json::array()},
                  {"assignments", json::array()},
                  {"requeues", json::array()}};
  if (job->role == job::JobRole::kAssigned) explain["placement"] = "assigned by another node";
  for (const node::HistoryBlock& b : *blocks) {
    if (b.phase == "submitted") {
      explain["placement_reason"] = b.detail.value("placement", std::string());
    } else if (b.phase == "bidding_closed") {
      explain["rounds"].push_back(b.detail);
    } else if (b.phase == "assigned") {
      explain["assignments"].push_back(b.detail);
    } else if (b.phase == "requeued") {
      explain["requeues"].push_back(b.detail);
    }
  }
  if (!job->peer.empty()) {
    explain[job->role == job::JobRole::kAssigned ? "origin" : "executor"] = job->peer;
  }
  return JsonResponse(200, explain);
}

HttpResponse ApiService::Peers() {
  node::MeshService* mesh = node_->mesh();
  if (mesh == nullptr) {
    return ErrorResponse(404, "not_found", "this node runs without the mesh (--no-mesh)");
  }
  const absl::Time now = node_->clock().Now();
  json peers = json::array();
  for (const node::Peer& p : mesh->Peers()) peers.push_back(node::ToJson(p, now));
  const node::MeshStats stats = mesh->Stats();
  // The table holds the membership's bounded views, not the network: `known` counts both views
  // (a lower bound of the network's size), `active` the peers heartbeats are exchanged with.
  return JsonResponse(
      200, {{"self", {{"did", node_->key().did().ToString()}, {"address", mesh->address()}}},
            {"active", stats.peers_alive},
            {"known", stats.peers_known},
            {"peers", peers}});
}

}  // namespace mesh::api
