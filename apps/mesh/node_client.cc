#include "node_client.h"

#include <cctype>
#include <cstdlib>

#include "mesh/common/file_util.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/node/data_dir.h"
#include "mesh/node/node_config.h"

namespace mesh::cli {

absl::StatusOr<std::unique_ptr<api::HttpClient>> ConnectToNode(const CliContext& ctx,
                                                               const NodeTarget& target,
                                                               bool with_token) {
  const node::DataDir dir{ctx.DataDir()};
  std::string url = target.url;
  if (url.empty()) {
    if (const char* env = std::getenv("MESH_NODE"); env != nullptr && *env != '\0') url = env;
  }
  if (url.empty()) {
    if (absl::StatusOr<std::string> written = ReadFileToString(dir.url_path(), 4096);
        written.ok()) {
      url = *written;
      while (!url.empty() && (url.back() == '\n' || url.back() == ' ')) url.pop_back();
    }
  }
  if (url.empty()) url = mesh::StrCat("http://127.0.0.1:", node::kDefaultApiPort);
  MESH_ASSIGN_OR_RETURN(std::unique_ptr<api::HttpClient> client, api::HttpClient::Create(url));
  // Reads need the token too (unless the node allows anonymous reads): carry it whenever it
  // can be found, and fail here only when the command cannot work without it.
  if (const char* env = std::getenv("MESH_TOKEN"); env != nullptr && *env != '\0') {
    client->set_token(env);
  } else {
    absl::StatusOr<std::string> token = node::ReadApiToken(dir);
    if (token.ok()) {
      client->set_token(*token);
    } else if (with_token) {
      return absl::Status(
          token.status().code(),
          mesh::StrCat(token.status().message(), " (or set MESH_TOKEN to the node's token)"));
    }
  }
  return client;
}

std::string FieldText(const nlohmann::json& j, const char* key, std::string fallback) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return fallback;
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

absl::Status ApiError(const api::ClientResponse& response) {
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  std::string message = body.is_object() && body.contains("message") && body["message"].is_string()
                            ? body["message"].get<std::string>()
                            : mesh::StrCat("HTTP ", response.status, ": ", response.body);
  switch (response.status) {
    case 400:
    case 413:
    case 416:
      return absl::InvalidArgumentError(message);
    case 401:
      return absl::UnauthenticatedError(message);
    case 403:
    case 421:  // the node does not answer for the Host in the URL (see [api] allowed_hosts)
      return absl::PermissionDeniedError(message);
    case 404:
      return absl::NotFoundError(message);
    case 409:
      return absl::FailedPreconditionError(message);
    case 503:
      return absl::UnavailableError(message);
    case 507:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<nlohmann::json> JsonOrError(const absl::StatusOr<api::ClientResponse>& response) {
  MESH_RETURN_IF_ERROR(response.status());
  if (response->status / 100 != 2) return ApiError(*response);
  nlohmann::json body = nlohmann::json::parse(response->body, nullptr, false);
  if (body.is_discarded()) {
    return absl::InternalError(
        mesh::StrCat("the node answered with invalid JSON: ", response->body.substr(0, 200)));
  }
  return body;
}

std::string QueryValue(std::string_view v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace mesh::cli
