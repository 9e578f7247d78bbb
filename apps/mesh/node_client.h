// How the CLI reaches a running node: the URL (--node, $MESH_NODE, the data dir's meshd.url,
// else http://127.0.0.1:7420), the API token (the data dir's api.token, or $MESH_TOKEN), and
// the translation of the API's {code, message} errors back into absl::Status, so every command
// prints one line and exits with the code of its kind. Single-threaded.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "cli_context.h"
#include "mesh/api/http_client.h"
#include "nlohmann/json.hpp"

namespace mesh::cli {

struct NodeTarget {
  std::string url;  // empty: found as described above
};

// The token is carried whenever it is found (reads need it too, unless the node allows
// anonymous reads); `with_token`: fail when it cannot be found (commands that change state).
absl::StatusOr<std::unique_ptr<api::HttpClient>> ConnectToNode(const CliContext& ctx,
                                                               const NodeTarget& target,
                                                               bool with_token);
// The body as JSON for 2xx answers; otherwise the API error as a Status.
absl::StatusOr<nlohmann::json> JsonOrError(const absl::StatusOr<api::ClientResponse>& response);
absl::Status ApiError(const api::ClientResponse& response);
// A field of an API answer as text: strings as they are, other values as JSON, `fallback` when
// the field is missing or null (or `j` is not an object).
std::string FieldText(const nlohmann::json& j, const char* key, std::string fallback = "-");
// A query parameter's value, percent-encoded (RFC 3986's unreserved characters and ':', which a
// DID holds and a query allows, kept).
std::string QueryValue(std::string_view v);

}  // namespace mesh::cli
