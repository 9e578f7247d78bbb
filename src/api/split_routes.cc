// ApiService's split-job routes: GET /v1/jobs/{id}/chunks (the chunks of a split job, their
// states and outputs, and the Merkle root once merged) and GET /v1/jobs/{id}/chunks/{index}/proof
// (one chunk output's inclusion proof in that tree).
#include <charconv>

#include "api_json.h"
#include "mesh/api/api_service.h"
#include "mesh/common/strings.h"

namespace mesh::api {
namespace {

using json = nlohmann::json;

json ChunkToJson(const node::ChunkStatus& c) {
  json j = {{"index", c.index},
            {"job", c.job_id},
            {"input_cid", c.input_cid},
            {"input_bytes", c.input_bytes},
            {"state", job::JobStateName(c.state)}};
  if (!c.output_cid.empty()) {
    j["output_cid"] = c.output_cid;
    j["fuel_used"] = c.fuel_used;
  }
  if (!c.executor.empty()) j["executor"] = c.executor;
  return j;
}

}  // namespace

HttpResponse ApiService::JobChunks(const std::string& id) {
  absl::StatusOr<node::SplitStatus> s = node_->splits().Status(id);
  if (!s.ok()) return StatusResponse(s.status());
  json chunks = json::array();
  for (const node::ChunkStatus& c : s->chunks) chunks.push_back(ChunkToJson(c));
  json out = {{"job", id},
              {"stage", s->stage},
              {"total", s->chunks.size()},
              {"done", s->done},
              {"chunks", std::move(chunks)}};
  if (!s->merkle_root.empty()) out["merkle_root"] = s->merkle_root;
  return JsonResponse(200, out);
}

HttpResponse ApiService::ChunkProof(const std::string& id, const std::string& index_text) {
  uint32_t index = 0;
  const char* end = index_text.data() + index_text.size();
  auto [ptr, ec] = std::from_chars(index_text.data(), end, index);
  if (ec != std::errc() || ptr != end) {
    return StatusResponse(absl::InvalidArgumentError(
        mesh::StrCat("chunk index \"", index_text, "\": must be a non-negative integer")));
  }
  absl::StatusOr<node::ChunkProof> p = node_->splits().Proof(id, index);
  if (!p.ok()) return StatusResponse(p.status());
  return JsonResponse(200, {{"job", id},
                            {"index", p->index},
                            {"output_cid", p->output_cid},
                            {"merkle_root", p->merkle_root},
                            {"proof", verify::ToJson(p->proof)}});
}

}  // namespace mesh::api
