// ApiService's dashboard routes: GET / (the page) and GET /ui/{file} (its scripts, styles, the
// JS SDK and Chart.js), all embedded in the binary (dashboard_assets.h). They carry no secrets
// and need no token; everything the page shows it fetches from /v1 with the token the user
// signs in with. The headers make the page hard to turn against its user: a Content-Security-
// Policy that runs only this node's own scripts (no inline script, no eval) and lets the page
// connect only to this node, nosniff, no framing, and revalidation by ETag so that a new meshd
// never serves a stale script.
#include <algorithm>

#include "api_json.h"
#include "dashboard_assets.h"
#include "mesh/api/api_service.h"
#include "mesh/common/strings.h"

namespace mesh::api {
namespace {

constexpr std::string_view kIndex = "index.html";

constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

bool EtagMatches(std::string_view if_none_match, std::string_view etag) {
  if (if_none_match == "*") return true;
  // A list of entity tags, possibly weak ("W/\"...\""): compare each without the W/.
  size_t start = 0;
  while (start < if_none_match.size()) {
    size_t comma = if_none_match.find(',', start);
    if (comma == std::string_view::npos) comma = if_none_match.size();
    std::string_view tag = if_none_match.substr(start, comma - start);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (tag == etag) return true;
    start = comma + 1;
  }
  return false;
}

}  // namespace

const DashboardAsset* FindDashboardAsset(std::string_view name) {
  const std::vector<DashboardAsset>& assets = DashboardAssets();
  auto it = std::find_if(assets.begin(), assets.end(),
                         [name](const DashboardAsset& a) { return a.name == name; });
  return it == assets.end() ? nullptr : &*it;
}

std::string_view DashboardContentType(std::string_view name) {
  const size_t dot = name.rfind('.');
  const std::string_view ext = dot == std::string_view::npos ? "" : name.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "json") return "application/json";
  if (ext == "png") return "image/png";
  return "application/octet-stream";
}

HttpResponse ApiService::DashboardFile(const HttpRequest& request, std::string_view name) {
  if (name.empty()) name = kIndex;
  const DashboardAsset* asset = FindDashboardAsset(name);
  if (asset == nullptr) {
    return ErrorResponse(
        404, "not_found",
        mesh::StrCat("the dashboard has no file \"", name, "\"; open / for the dashboard"));
  }
  HttpResponse r;
  r.content_type = std::string(DashboardContentType(asset->name));
  r.headers = {
      {"Content-Security-Policy", std::string(kContentSecurityPolicy)},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
      // Cached, but checked against the node on every use: the files change with the binary.
      {"Cache-Control", "no-cache"},
      {"ETag", std::string(asset->etag)},
  };
  if (EtagMatches(request.Header("if-none-match"), asset->etag)) {
    r.status = 304;
    return r;
  }
  r.body = std::string(asset->content);
  return r;
}

}  // namespace mesh::api
