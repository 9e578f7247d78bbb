// JSON shapes of the HTTP API (documented in openapi.json): jobs, errors, node info, and the
// mapping from absl::Status codes to HTTP statuses. Pure functions; thread-safe.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "mesh/api/http_server.h"
#include "mesh/node/compute_service.h"
#include "mesh/node/job_store.h"
#include "nlohmann/json.hpp"

namespace mesh::api {

nlohmann::json JobToJson(const node::JobRecord& job);
nlohmann::json StatsToJson(const node::ServiceStats& stats);

int HttpStatusFor(const absl::Status& status);
std::string ErrorCodeName(int http_status, absl::StatusCode code);
HttpResponse JsonResponse(int status, const nlohmann::json& body);
HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message);
HttpResponse StatusResponse(const absl::Status& status);
// The `limit` query parameter: `fallback` when absent; InvalidArgument unless 1 to `max`.
absl::StatusOr<size_t> LimitQuery(const HttpRequest& request, size_t fallback, size_t max);

// "bytes=0-99", "bytes=100-", "bytes=-50" against a blob of `size` bytes. nullopt: no usable
// single range (answer 200 with everything); an error: unsatisfiable (answer 416).
struct ByteRange {
  uint64_t first = 0;
  uint64_t length = 0;
};
absl::StatusOr<std::optional<ByteRange>> ParseRange(std::string_view header, uint64_t size);

}  // namespace mesh::api
