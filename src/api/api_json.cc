#include "api_json.h"

#include <charconv>

#include "absl/strings/numbers.h"
#include "mesh/common/strings.h"

namespace mesh::api {
namespace {

nlohmann::json TimeOrNull(absl::Time t) {
  if (t == absl::UnixEpoch()) return nullptr;
  return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
}

}  // namespace

nlohmann::json JobToJson(const node::JobRecord& job) {
  nlohmann::json j = {
      {"id", job.id},
      {"seq", job.seq},
      {"state", job::JobStateName(job.state)},
      {"submitted_at", TimeOrNull(job.submitted_at)},
      {"started_at", TimeOrNull(job.started_at)},
      {"finished_at", TimeOrNull(job.finished_at)},
      {"attempts", job.attempts},
      {"priority", job.spec.priority},
      {"labels", job.spec.labels},
      {"submitter", job.spec.submitter},
      {"spec", job::ToJson(job.spec)},
  };
  if (!job.reason.empty()) j["reason"] = job.reason;
  if (!job.phase.empty()) j["phase"] = job.phase;
  // The API's names, not the stored ones: a split job is placed "local" (its chunks are jobs).
  j["placement"] = job.role == job::JobRole::kDelegated  ? "market"
                   : job.role == job::JobRole::kAssigned ? "assigned"
                                                         : "local";
  if (!job.peer.empty()) {
    j[job.role == job::JobRole::kAssigned ? "origin" : "executor"] = job.peer;
    j["round"] = job.round;
  }
  if (!job.history_head.empty()) j["history_head"] = job.history_head;
  if (job.started_at != absl::UnixEpoch()) {
    j["queue_wait_ms"] = absl::ToDoubleMilliseconds(job.started_at - job.submitted_at);
  }
  if (job::IsTerminal(job.state) && !job.outcome.empty()) {
    j["outcome"] = job.outcome;
    j["exit_code"] = job.exit_code;
    j["fuel_used"] = job.fuel_used;
    j["output_cid"] = job.output_cid;
    if (!job.files_cid.empty()) j["files_cid"] = job.files_cid;
    if (!job.stored_output.empty()) j["stored_output"] = job.stored_output;
    j["run_ms"] = absl::ToDoubleMilliseconds(job.finished_at - job.started_at);
    nlohmann::json report = nlohmann::json::parse(job.report_json, nullptr, false);
    if (!report.is_discarded()) j["report"] = std::move(report);
  }
  return j;
}

nlohmann::json StatsToJson(const node::ServiceStats& s) {
  return {{"queued", s.queued},
          {"running", s.running},
          {"succeeded", s.succeeded},
          {"failed", s.failed},
          {"cancelled", s.cancelled},
          {"completed", s.succeeded + s.failed + s.cancelled},
          {"max_concurrent", s.max_concurrent},
          {"load", s.load},
          {"fuel_per_second", s.fuel_per_second},
          {"fuel_used_total", s.fuel_used_total},
          {"delegated", s.delegated},
          {"draining", s.draining},
          {"compiles",
           {{"queued", s.compiles.queued},
            {"running", s.compiles.running},
            {"compiled", s.compiles.compiled},
            {"failed", s.compiles.failed},
            {"killed", s.compiles.killed}}}};
}

int HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kCancelled:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 507;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

std::string ErrorCodeName(int http_status, absl::StatusCode code) {
  switch (http_status) {
    case 400:
      return "invalid_argument";
    case 401:
      return "unauthenticated";
    case 403:
      return "permission_denied";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 409:
      return code == absl::StatusCode::kAlreadyExists ? "already_exists" : "failed_precondition";
    case 413:
      return "payload_too_large";
    case 416:
      return "range_not_satisfiable";
    case 431:
      return "header_too_large";
    case 501:
      return "unimplemented";
    case 503:
      return "unavailable";
    case 504:
      return "deadline_exceeded";
    case 507:
      return "resource_exhausted";
    default:
      return "internal";
  }
}

HttpResponse JsonResponse(int status, const nlohmann::json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.body.push_back('\n');
  return r;
}

HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message) {
  return JsonResponse(status, {{"code", code}, {"message", message}});
}

HttpResponse StatusResponse(const absl::Status& status) {
  const int http = HttpStatusFor(status);
  return ErrorResponse(http, ErrorCodeName(http, status.code()), ToStd(status.message()));
}

absl::StatusOr<std::optional<ByteRange>> ParseRange(std::string_view header, uint64_t size) {
  constexpr std::string_view kPrefix = "bytes=";
  if (header.substr(0, kPrefix.size()) != kPrefix) return std::optional<ByteRange>();
  std::string_view spec = header.substr(kPrefix.size());
  if (spec.find(',') != std::string_view::npos) return std::optional<ByteRange>();  // multi
  const size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return std::optional<ByteRange>();
  auto parse = [](std::string_view s, uint64_t& out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc() && end == s.data() + s.size();
  };
  std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  uint64_t first = 0, last = 0;
  if (a.empty()) {  // suffix: the last N bytes
    if (!parse(b, last) || last == 0) {
      return absl::OutOfRangeError(mesh::StrCat("range ", header, " selects no bytes"));
    }
    const uint64_t n = std::min(last, size);
    if (n == 0) return absl::OutOfRangeError("the blob is empty");
    return std::optional<ByteRange>(ByteRange{size - n, n});
  }
  if (!parse(a, first)) return std::optional<ByteRange>();
  if (b.empty()) {
    last = size == 0 ? 0 : size - 1;
  } else if (!parse(b, last) || last < first) {
    return std::optional<ByteRange>();
  }
  if (first >= size) {
    return absl::OutOfRangeError(
        mesh::StrCat("range starts at byte ", first, " but the blob has ", size, " bytes"));
  }
  last = std::min(last, size - 1);
  return std::optional<ByteRange>(ByteRange{first, last - first + 1});
}

absl::StatusOr<size_t> LimitQuery(const HttpRequest& request, size_t fallback, size_t max) {
  const std::string v = request.Query("limit");
  if (v.empty()) return fallback;
  size_t limit = 0;
  if (!absl::SimpleAtoi(ToAbsl(v), &limit) || limit == 0 || limit > max) {
    return absl::InvalidArgumentError(
        mesh::StrCat("query parameter limit=", v.substr(0, 32), ": expected 1 to ", max));
  }
  return limit;
}

}  // namespace mesh::api
