// The OpenAPI document served by the node is the one in the repo, and it lists exactly the
// routes the API serves, with a bearer-token requirement exactly where the API checks one and
// the role each route needs.
#include <gtest/gtest.h>

#include <set>

#include "mesh/api/api_service.h"
#include "mesh/common/file_util.h"
#include "mesh/common/testing.h"
#include "nlohmann/json.hpp"

namespace mesh::api {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

TEST(OpenApiTest, ServedDocumentIsTheRepoFile) {
  ASSERT_OK_AND_ASSIGN(std::string file, ReadFileToString(MESH_OPENAPI_PATH, 1 << 20));
  EXPECT_EQ(std::string(ApiService::OpenApiDocument()), file);
}

TEST(OpenApiTest, RoutesMatchTheDocument) {
  nlohmann::json doc = nlohmann::json::parse(ApiService::OpenApiDocument());
  EXPECT_EQ(doc["openapi"].get<std::string>().substr(0, 2), "3.");
  std::set<std::pair<std::string, std::string>> documented;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      documented.emplace(method, path);
      ASSERT_TRUE(op.contains("responses")) << method << " " << path;
    }
  }
  std::set<std::pair<std::string, std::string>> served;
  for (const RouteInfo& route : ApiService::Routes()) {
    served.emplace(Lower(route.method), route.pattern);
    const nlohmann::json& op = doc["paths"][route.pattern][Lower(route.method)];
    const bool documented_token = op.contains("security");
    EXPECT_EQ(documented_token, route.needs_token) << route.method << " " << route.pattern;
    if (route.needs_token) {
      // Every route that needs a token says which role it needs, and that it may answer 401
      // (no or a bad token), 403 (a role too small, or another user's job) and 429 (limits).
      ASSERT_TRUE(op.contains("x-mesh-role")) << route.method << " " << route.pattern;
      EXPECT_EQ(op["x-mesh-role"].get<std::string>(), accounts::RoleName(route.role))
          << route.method << " " << route.pattern;
      for (const char* status : {"401", "403", "429"}) {
        EXPECT_TRUE(op["responses"].contains(status)) << route.pattern << " " << status;
      }
    } else {
      EXPECT_FALSE(op.contains("x-mesh-role")) << route.pattern;
    }
  }
  EXPECT_EQ(served, documented);
}

}  // namespace
}  // namespace mesh::api
