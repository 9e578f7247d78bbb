// ApiService's checks of who may touch a job's data: a job belongs to the user whose DID signed
// it (its submitter); admins may touch every job. Reading a blob needs admin, having uploaded
// it, or owning a job that names it (?job=ID). And the per-user cap on jobs in flight.
#include "absl/container/flat_hash_set.h"
#include "api_json.h"
#include "mesh/api/api_service.h"
#include "mesh/cas/dir_manifest.h"
#include "mesh/common/strings.h"

namespace mesh::api {

std::optional<HttpResponse> ApiService::RefuseUnlessOwner(const node::JobRecord& job,
                                                          const Caller& caller,
                                                          std::string_view what) {
  if (caller.Owns(job.spec.submitter)) return std::nullopt;
  return ErrorResponse(
      403, "permission_denied",
      mesh::StrCat("job ", job.id, " is not ",
                   caller.anonymous ? "yours: sign in" : mesh::StrCat(caller.user.name, "'s"),
                   "; its ", what, " is for its submitter and admins"));
}

bool ApiService::JobNamesBlob(const node::JobRecord& job, const std::string& cid) {
  const job::JobSpec& spec = job.spec;
  if (spec.module == cid || job.output_cid == cid) return true;
  for (const std::string& input : spec.inputs) {
    if (input == cid) return true;
  }
  // Its trees, mounted and written, and the files they list.
  std::vector<std::string> trees;
  for (const job::JobMount& m : spec.mounts) trees.push_back(m.cid);
  if (!job.files_cid.empty()) trees.push_back(job.files_cid);
  for (const std::string& tree : trees) {
    if (tree == cid) return true;
    absl::StatusOr<cas::Cid> parsed = cas::Cid::Parse(tree);
    if (!parsed.ok() || parsed->codec() != cas::Codec::kDagJson) continue;
    absl::StatusOr<cas::DirManifest> manifest = cas::GetManifest(node_->blobs(), *parsed);
    if (!manifest.ok()) continue;
    for (const cas::DirEntry& e : manifest->entries) {
      if (e.cid.has_value() && e.cid->ToString() == cid) return true;
    }
  }
  // Partial outputs and checkpoints are history blocks naming their blob.
  if (absl::StatusOr<std::vector<node::HistoryBlock>> blocks = node_->jobs().History(job.id);
      blocks.ok()) {
    for (const node::HistoryBlock& b : *blocks) {
      if ((b.phase == "partial" || b.phase == "checkpoint") && b.detail.contains("cid") &&
          b.detail["cid"].is_string() && b.detail["cid"].get<std::string>() == cid) {
        return true;
      }
    }
  }
  // A split job's chunks: their inputs and outputs.
  if (absl::StatusOr<node::SplitStatus> split = node_->splits().Status(job.id); split.ok()) {
    for (const node::ChunkStatus& c : split->chunks) {
      if (c.input_cid == cid || c.output_cid == cid) return true;
    }
  }
  return false;
}

HttpResponse ApiService::GetBlob(const HttpRequest& request, const std::string& cid,
                                 const Caller& caller) {
  if (!caller.admin()) {
    bool allowed = !caller.anonymous && node_->users().Granted(caller.user.did, cid);
    if (const std::string job_id = request.Query("job"); !allowed && !job_id.empty()) {
      absl::StatusOr<node::JobRecord> job = node_->compute().Get(job_id);
      allowed = job.ok() && caller.Owns(job->spec.submitter) && JobNamesBlob(*job, cid);
    }
    if (!allowed) {
      return ErrorResponse(403, "permission_denied",
                           mesh::StrCat("blob ", cid.substr(0, 100),
                                        " is not yours: a user reads what it uploaded, and the "
                                        "data of its own jobs with ?job=<job id>"));
    }
  }
  return ServeBlob(request, cid);
}

std::optional<HttpResponse> ApiService::CheckJobsInFlight(const Caller& caller) {
  const int64_t max = caller.user.max_jobs_in_flight;
  if (caller.anonymous || max <= 0) return std::nullopt;
  // The count lives in memory: the first time a user submits after a start, its jobs still
  // queued or running (from before a restart) are counted in once.
  bool first;
  {
    absl::MutexLock lock(&mu_);
    first = counted_users_.insert(caller.user.name).second;
  }
  if (first) {
    absl::StatusOr<std::vector<node::JobRecord>> unfinished = node_->jobs().Unfinished();
    if (!unfinished.ok()) return StatusResponse(unfinished.status());
    for (const node::JobRecord& job : *unfinished) {
      if (job.spec.submitter == caller.user.did) limits_.Submitted(caller.user.name, job.id);
    }
  }
  if (limits_.CanSubmit(caller.user.name, max)) return std::nullopt;
  // At the cap: forget the jobs that have ended since (only now, so the common case reads
  // nothing).
  for (const std::string& id : limits_.JobsOf(caller.user.name)) {
    absl::StatusOr<node::JobRecord> job = node_->compute().Get(id);
    if (!job.ok() || job::IsTerminal(job->state)) limits_.Ended(id);
  }
  if (limits_.CanSubmit(caller.user.name, max)) return std::nullopt;
  HttpResponse r =
      ErrorResponse(429, "resource_exhausted",
                    mesh::StrCat("user ", caller.user.name, " has ", max,
                                 " jobs in flight, its most; submit more once some have ended"));
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

}  // namespace mesh::api
