// ApiService's long-job routes: GET /v1/jobs/{id}/partials and GET /v1/jobs/{id}/checkpoints,
// read from the job's history (each partial output and checkpoint is a block there, written as
// it is made, here or on the executor), so they answer while the job runs.
#include "api_json.h"
#include "mesh/api/api_service.h"
#include "mesh/common/strings.h"

namespace mesh::api {

HttpResponse ApiService::JobArtifacts(const std::string& id, std::string_view kind) {
  absl::StatusOr<node::JobRecord> job = node_->compute().Get(id);
  if (!job.ok()) return StatusResponse(job.status());
  absl::StatusOr<std::vector<node::HistoryBlock>> blocks = node_->jobs().History(id);
  if (!blocks.ok()) return StatusResponse(blocks.status());
  nlohmann::json list = nlohmann::json::array();
  for (const node::HistoryBlock& b : *blocks) {
    if (b.phase != kind) continue;
    nlohmann::json item = b.detail;
    item["at"] = absl::FormatTime(absl::RFC3339_full, b.at, absl::UTCTimeZone());
    list.push_back(std::move(item));
  }
  return JsonResponse(200, {{"job", id},
                            {"state", job::JobStateName(job->state)},
                            {mesh::StrCat(kind, "s"), std::move(list)}});
}

}  // namespace mesh::api
