#include "mesh/job/job_mounts.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mesh/common/testing.h"
#include "mesh/job/job_spec.h"
#include "mesh/job/market.h"

namespace mesh::job {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

const std::string kModule = cas::Cid::Of("module bytes").ToString();
const std::string kFile = cas::Cid::Of("file bytes").ToString();
const std::string kTree = cas::Cid::Of("{}", cas::Codec::kDagJson).ToString();

json BaseSpec() { return json{{"module", kModule}}; }

std::string Refusal(json spec) {
  absl::StatusOr<JobSpec> parsed = JobSpecFromJson(spec, false);
  return parsed.ok() ? "accepted" : std::string(parsed.status().message());
}

TEST(JobMountsTest, OldSpecsKeepTheirBytes) {
  JobSpec spec;
  spec.module = kModule;
  const std::string before = CanonicalJson(spec);
  EXPECT_EQ(before.find("mounts"), std::string::npos);
  EXPECT_EQ(before.find("output_dir"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(JobSpec back, JobSpecFromJson(json::parse(before), false));
  EXPECT_EQ(CanonicalJson(back), before);
}

TEST(JobMountsTest, RoundTrips) {
  json j = BaseSpec();
  j["mounts"] = {{{"cid", kTree}, {"path", "/data"}},
                 {{"cid", kTree}, {"path", "/work"}, {"writable", true}},
                 {{"cid", kFile}, {"path", "/in/a.csv"}}};
  j["output_dir"] = "/out";
  ASSERT_OK_AND_ASSIGN(JobSpec spec, JobSpecFromJson(j, false));
  ASSERT_EQ(spec.mounts.size(), 3u);
  EXPECT_FALSE(spec.mounts[0].is_file());
  EXPECT_TRUE(spec.mounts[1].writable);
  EXPECT_TRUE(spec.mounts[2].is_file());
  EXPECT_EQ(spec.output_dir, "/out");
  const json out = ToJson(spec);
  EXPECT_EQ(out["mounts"], j["mounts"]);
  EXPECT_FALSE(out["mounts"][0].contains("writable"));  // false is left out
  ASSERT_OK_AND_ASSIGN(JobSpec again, JobSpecFromJson(out, false));
  EXPECT_EQ(again.mounts, spec.mounts);
  // The output directory may be inside a writable mount or be one.
  j["output_dir"] = "/work";
  EXPECT_EQ(Refusal(j), "accepted");
  j["output_dir"] = "/data/out";
  EXPECT_EQ(Refusal(j), "accepted");
}

TEST(JobMountsTest, RefusesBadMounts) {
  const auto with = [](json mounts, std::string output_dir = "") {
    json j = BaseSpec();
    j["mounts"] = std::move(mounts);
    if (!output_dir.empty()) j["output_dir"] = output_dir;
    return Refusal(j);
  };
  const auto m = [](std::string cid, std::string path) {
    return json{{"cid", std::move(cid)}, {"path", std::move(path)}};
  };
  EXPECT_NE(with(json::object()).find("/mounts: must be an array"), std::string::npos);
  EXPECT_NE(with({m(kTree, "data")}).find("absolute"), std::string::npos);
  EXPECT_NE(with({m(kTree, "/data/")}).find("empty component"), std::string::npos);
  EXPECT_NE(with({m(kTree, "/a//b")}).find("empty component"), std::string::npos);
  EXPECT_NE(with({m(kTree, "/a/../b")}).find("\"..\""), std::string::npos);
  EXPECT_NE(with({m(kTree, "/a/./b")}).find("\".\""), std::string::npos);
  EXPECT_NE(with({m(kTree, "/" + std::string(1100, 'a'))}).find("/mounts/0/path"),
            std::string::npos);
  EXPECT_NE(with({m(kTree, "/a"), m(kTree, "/a")}).find("mounted twice"), std::string::npos);
  EXPECT_NE(with({m("nope", "/a")}).find("/mounts/0/cid"), std::string::npos);
  const std::string pb = cas::Cid::Of("x", cas::Codec::kDagPb).ToString();
  EXPECT_NE(with({m(pb, "/a")}).find("not a dag-pb block"), std::string::npos);
  EXPECT_NE(with({m(kFile, "/")}).find("a file cannot be"), std::string::npos);
  EXPECT_NE(with({json{{"cid", kFile}, {"path", "/f"}, {"writable", true}}}).find("read-only"),
            std::string::npos);
  EXPECT_NE(with({m(kTree, "/d"), m(kFile, "/d/f")}).find("also a mounted directory"),
            std::string::npos);
  EXPECT_NE(with({json{{"cid", kTree}, {"path", "/a"}, {"mode", 1}}}).find("mode"),
            std::string::npos);
  json many = json::array();
  for (int i = 0; i <= static_cast<int>(kMaxMounts); ++i)
    many.push_back(m(kTree, "/m" + std::to_string(i)));
  EXPECT_NE(with(many).find("at most 16 mounts"), std::string::npos);
  // The output directory.
  EXPECT_NE(with({m(kTree, "/data")}, "/data").find("read-only mount"), std::string::npos);
  EXPECT_NE(with({m(kFile, "/in/f")}, "/in").find("read-only mount"), std::string::npos);
  EXPECT_NE(with({m(kFile, "/in/f")}, "/in/f").find("read-only mount"), std::string::npos);
  EXPECT_NE(with(json::array(), "/").find("below"), std::string::npos);
  EXPECT_NE(with(json::array(), "out").find("absolute"), std::string::npos);
}

TEST(JobMountsTest, GuestPathsAreNormalisedAndBadOnesRefused) {
  EXPECT_EQ(NormaliseGuestPath("/", "p").value(), "/");
  EXPECT_EQ(NormaliseGuestPath("/data/", "p").value(), "/data");
  EXPECT_EQ(NormaliseGuestPath("//data/./x//", "p").value(), "/data/x");
  EXPECT_THAT(NormaliseGuestPath("data", "p").status().message(), HasSubstr("not an absolute"));
  EXPECT_THAT(NormaliseGuestPath("/a/../b", "p").status().message(), HasSubstr("'..'"));
  EXPECT_FALSE(NormaliseGuestPath(std::string("/a\0b", 4), "p").ok());
  EXPECT_FALSE(NormaliseGuestPath("/" + std::string(5000, 'x'), "p").ok());
  // The result passes the spec's own rule.
  EXPECT_OK(CheckGuestPath(NormaliseGuestPath("/a//b/./", "p").value(), "p"));
}

TEST(JobMountsTest, GuestParent) {
  EXPECT_EQ(GuestParent("/a"), "/");
  EXPECT_EQ(GuestParent("/a/b/c"), "/a/b");
}

}  // namespace
}  // namespace mesh::job

namespace mesh::job {
namespace {

TEST(JobMountsTest, ASplitJobMountsButNamesNoOutputDir) {
  SplitSpec split;
  split.splitter.kind = Splitter::kLines;
  split.splitter.parts = 2;
  json j = {{"module", kModule},
            {"inputs", {kFile}},
            {"split", ToJson(split)},
            {"mounts", {{{"cid", kTree}, {"path", "/data"}}}}};
  ASSERT_OK(JobSpecFromJson(j, false).status());
  j["output_dir"] = "/out";
  EXPECT_NE(Refusal(j).find("/output_dir: a split job cannot"), std::string::npos) << Refusal(j);
}

}  // namespace
}  // namespace mesh::job

namespace mesh::job {
namespace {

// A receipt without files keeps its old JSON (no files_cid key); with files it carries the
// tree's CID, which must name a manifest; replicas compare the output and the tree together.
TEST(JobMountsTest, ReceiptsCarryTheOutputTree) {
  crypto::KeyPair key = crypto::KeyPair::Generate();
  Receipt r;
  r.job_id = kModule;
  r.executor = key.did().ToString();
  r.outcome = "ok";
  r.output_cid = kFile;
  r.report = json::object();
  EXPECT_FALSE(ToJson(Message(r)).contains("files_cid"));
  EXPECT_EQ(ResultKey(r), kFile);
  r.files_cid = kTree;
  EXPECT_EQ(ResultKey(r), kFile + "+" + kTree);
  const std::string sealed =
      SealMessage(key, r, 1700000000000, "00112233445566778899aabbccddeeff").Serialize();
  ASSERT_OK_AND_ASSIGN(OpenedMessage opened, OpenMessage(sealed, 1 << 20));
  EXPECT_EQ(std::get<Receipt>(opened.message).files_cid, kTree);
  r.files_cid = kFile;  // a raw CID: not a tree
  absl::StatusOr<OpenedMessage> bad = OpenMessage(
      SealMessage(key, r, 1700000000000, "00112233445566778899aabbccddeeff").Serialize(), 1 << 20);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("files_cid"), std::string::npos) << bad.status();
}

}  // namespace
}  // namespace mesh::job
