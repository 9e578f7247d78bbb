// ApiService's account routes: GET /v1/me (who the token is), and for admins GET/POST
// /v1/users, DELETE /v1/users/{name} and POST /v1/users/{name}/token (a new token; the old one
// stops working at once). A token is in the answer that makes it and nowhere else, ever.
#include "absl/strings/numbers.h"
#include "api_json.h"
#include "mesh/api/api_service.h"
#include "mesh/common/strings.h"

namespace mesh::api {
namespace {

using json = nlohmann::json;

// What a new user may do unless told otherwise: enough for a person or a script, not enough
// to starve the node's other users. 0 means unlimited.
constexpr int64_t kDefaultRequestsPerSecond = 100;
constexpr int64_t kDefaultJobsInFlight = 1000;
constexpr int64_t kMaxExpirySeconds = int64_t{10} * 365 * 24 * 3600;

json UserToJson(const accounts::User& u) {
  json j = {{"name", u.name},
            {"user", u.name},
            {"role", accounts::RoleName(u.role)},
            {"did", u.did},
            {"created_at", absl::FormatTime(absl::RFC3339_sec, u.created_at, absl::UTCTimeZone())},
            {"expires_at_ms", u.expires_at ? absl::ToUnixMillis(*u.expires_at) : int64_t{0}},
            {"requests_per_second", u.requests_per_second},
            {"max_jobs_in_flight", u.max_jobs_in_flight},
            {"node_identity", u.node_identity}};
  j["expires_at"] =
      u.expires_at ? json(absl::FormatTime(absl::RFC3339_sec, *u.expires_at, absl::UTCTimeZone()))
                   : json(nullptr);
  return j;
}

// The user and its new token: the one answer that ever holds it, so no cache may keep it.
HttpResponse IssuedTokenResponse(int status, const accounts::IssuedToken& issued) {
  json out = UserToJson(issued.user);
  out["token"] = issued.token;
  HttpResponse r = JsonResponse(status, out);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

// A non-negative integer field of `body`, or `fallback` when absent.
absl::StatusOr<int64_t> CountField(const json& body, const char* name, int64_t fallback) {
  if (!body.contains(name)) return fallback;
  const json& v = body[name];
  if (!v.is_number_integer() || v.get<int64_t>() < 0) {
    return absl::InvalidArgumentError(
        mesh::StrCat("\"", name, "\" must be a non-negative integer (0: unlimited)"));
  }
  return v.get<int64_t>();
}

}  // namespace

HttpResponse ApiService::Me(const Caller& caller) {
  if (caller.anonymous) {
    return JsonResponse(200, {{"user", "anonymous"},
                              {"name", "anonymous"},
                              {"role", "read"},
                              {"did", ""},
                              {"expires_at_ms", 0},
                              {"anonymous", true}});
  }
  json me = UserToJson(caller.user);
  me["anonymous"] = false;
  return JsonResponse(200, me);
}

HttpResponse ApiService::ListUsers() {
  json users = json::array();
  for (const accounts::User& u : node_->users().List()) users.push_back(UserToJson(u));
  return JsonResponse(200, {{"users", std::move(users)}});
}

HttpResponse ApiService::AddUser(const HttpRequest& request) {
  json body;
  try {
    body = json::parse(request.body);
  } catch (const json::exception& e) {
    return ErrorResponse(400, "invalid_argument",
                         mesh::StrCat("request body is not valid JSON: ", e.what()));
  }
  if (!body.is_object() || !body.contains("name") || !body["name"].is_string()) {
    return ErrorResponse(400, "invalid_argument",
                         "expected {\"name\": ..., \"role\": \"admin\"|\"submit\"|\"read\"}");
  }
  for (const auto& [key, value] : body.items()) {
    if (key != "name" && key != "role" && key != "expires_in_seconds" &&
        key != "requests_per_second" && key != "max_jobs_in_flight") {
      return ErrorResponse(400, "invalid_argument",
                           mesh::StrCat("unknown field \"", key.substr(0, 64),
                                        "\"; known: name, role, expires_in_seconds, "
                                        "requests_per_second, max_jobs_in_flight"));
    }
  }
  accounts::NewUser user;
  user.name = body["name"].get<std::string>();
  const std::string role = body.value("role", std::string("read"));
  std::optional<accounts::Role> parsed = accounts::ParseRole(role);
  if (!parsed) {
    return ErrorResponse(
        400, "invalid_argument",
        mesh::StrCat("\"role\": \"", role.substr(0, 64), "\" is not admin, submit or read"));
  }
  user.role = *parsed;
  const bool admin = user.role == accounts::Role::kAdmin;
  absl::StatusOr<int64_t> rps =
      CountField(body, "requests_per_second", admin ? 0 : kDefaultRequestsPerSecond);
  absl::StatusOr<int64_t> jobs =
      CountField(body, "max_jobs_in_flight", admin ? 0 : kDefaultJobsInFlight);
  absl::StatusOr<int64_t> expiry = CountField(body, "expires_in_seconds", 0);
  for (const absl::Status& s : {rps.status(), jobs.status(), expiry.status()}) {
    if (!s.ok()) return StatusResponse(s);
  }
  if (*expiry > kMaxExpirySeconds) {
    return ErrorResponse(400, "invalid_argument",
                         "\"expires_in_seconds\" is over ten years; use 0 for a token that "
                         "does not expire");
  }
  user.requests_per_second = *rps;
  user.max_jobs_in_flight = *jobs;
  const absl::Time now = node_->clock().Now();
  if (*expiry > 0) user.expires_at = now + absl::Seconds(*expiry);
  absl::StatusOr<accounts::IssuedToken> issued = node_->users().Add(user, now);
  if (!issued.ok()) return StatusResponse(issued.status());
  return IssuedTokenResponse(201, *issued);
}

HttpResponse ApiService::RemoveUser(const std::string& name) {
  if (absl::Status s = node_->users().Remove(name); !s.ok()) return StatusResponse(s);
  return JsonResponse(200, {{"removed", name}});
}

HttpResponse ApiService::RotateToken(const std::string& name) {
  absl::StatusOr<accounts::IssuedToken> issued = node_->users().Rotate(name);
  if (!issued.ok()) return StatusResponse(issued.status());
  return IssuedTokenResponse(200, *issued);
}

}  // namespace mesh::api
