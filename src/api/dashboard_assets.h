// The web dashboard's files, embedded in meshd at build time (cmake/EmbedFiles.cmake over
// web/dashboard/, sdk/js/ and Debian's Chart.js): the node serves its own dashboard with nothing
// to install beside the binary and nothing fetched from elsewhere, and the files cannot drift
// from the API they were built with. Served under their file names (GET /ui/{file}); the names
// are unique by construction (the build fails otherwise). Immutable; thread-safe.
#pragma once

#include <string_view>
#include <vector>

namespace mesh::api {

struct DashboardAsset {
  std::string_view name;     // "app.js"
  std::string_view content;  // the file's bytes
  std::string_view etag;     // "\"<sha-256 hex>\"", quoted as the ETag header wants it
};

// Every embedded file (generated source).
const std::vector<DashboardAsset>& DashboardAssets();

// The asset of that name, or null.
const DashboardAsset* FindDashboardAsset(std::string_view name);

// "text/javascript; charset=utf-8" for "app.js"; application/octet-stream when unknown.
std::string_view DashboardContentType(std::string_view name);

}  // namespace mesh::api
