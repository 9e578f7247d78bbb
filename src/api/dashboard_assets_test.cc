// The dashboard's embedded files: the page and the scripts it needs are all there, each with a
// real content type and an ETag, and every file the page or a script names (/ui/x, ./x.js) is
// one of them, so a renamed or forgotten file fails here rather than in a browser.
#include "dashboard_assets.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace mesh::api {
namespace {

TEST(DashboardAssetsTest, ThePageItsScriptsTheSdkAndChartJsAreEmbedded) {
  for (const char* name :
       {"index.html", "app.js", "style.css", "mesh.js", "merkle.js", "chart.min.js", "overview.js",
        "jobs.js", "job.js", "submit.js", "peers.js", "ledger.js"}) {
    const DashboardAsset* asset = FindDashboardAsset(name);
    ASSERT_NE(asset, nullptr) << name;
    EXPECT_FALSE(asset->content.empty()) << name;
    EXPECT_TRUE(std::regex_match(std::string(asset->etag), std::regex("\"[0-9a-f]{64}\"")))
        << name << ": " << asset->etag;
  }
  EXPECT_EQ(FindDashboardAsset("nothing.js"), nullptr);
  EXPECT_EQ(FindDashboardAsset(""), nullptr);
}

TEST(DashboardAssetsTest, EveryFileHasItsContentType) {
  for (const DashboardAsset& asset : DashboardAssets()) {
    EXPECT_NE(DashboardContentType(asset.name), "application/octet-stream") << asset.name;
  }
  EXPECT_EQ(DashboardContentType("a.html"), "text/html; charset=utf-8");
  EXPECT_EQ(DashboardContentType("a.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(DashboardContentType("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(DashboardContentType("a.svg"), "image/svg+xml");
  EXPECT_EQ(DashboardContentType("README"), "application/octet-stream");
}

TEST(DashboardAssetsTest, EveryFileThePageOrAScriptNamesIsEmbedded) {
  const std::regex page_ref(R"re((?:src|href)="/ui/([^"]+)")re");
  const std::regex import_ref(R"re(from '\./([^']+)')re");
  int refs = 0;
  for (const DashboardAsset& asset : DashboardAssets()) {
    if (asset.name == "chart.min.js") continue;  // Debian's, self-contained
    const std::string text(asset.content);
    for (const std::regex* re : {&page_ref, &import_ref}) {
      for (auto it = std::sregex_iterator(text.begin(), text.end(), *re);
           it != std::sregex_iterator(); ++it) {
        ++refs;
        EXPECT_NE(FindDashboardAsset((*it)[1].str()), nullptr)
            << asset.name << " names " << (*it)[1].str() << ", which is not embedded";
      }
    }
  }
  EXPECT_GT(refs, 10);
}

}  // namespace
}  // namespace mesh::api
