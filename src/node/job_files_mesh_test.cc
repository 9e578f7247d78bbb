// Issue 17 end to end in an in-process mesh: a job that mounts a directory tree and writes an
// output directory (examples/dir_sum.c) gives the same output tree, by CID, on two different
// nodes run locally, and when delegated under replicate(2), where the submitter fetches the
// tree and its files. These need the WASI filesystem and the worker protocol's mounts (merged
// beside this branch): until both are in, the job cannot see /data.
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "mesh/cas/dir_manifest.h"
#include "mesh/cas/dir_tree.h"
#include "mesh/node/node.h"
#include "mesh_test_fixture.h"

namespace mesh::node {
namespace {

using meshtest::Example;
using meshtest::MeshTest;

constexpr std::string_view kSummary =
    "a/\na/x.txt 3 322\nb.txt 4 379\nl -> a/x.txt\ntotal: 2 files, 7 bytes, sum 701\n";

class JobFilesMeshTest : public MeshTest {
 protected:
  // The tree dir_sum reads, imported into `n`'s store; returns its manifest CID.
  std::string PutTree(Node& n) {
    const std::filesystem::path src = root_ / "src";
    if (!std::filesystem::exists(src)) {
      std::filesystem::create_directories(src / "a");
      std::ofstream(src / "a" / "x.txt") << "one";
      std::ofstream(src / "b.txt") << "two!";
      std::filesystem::create_symlink("a/x.txt", src / "l");
    }
    absl::StatusOr<cas::ImportResult> tree = cas::ImportDirectory(n.blobs(), src);
    MESH_CHECK(tree.ok());
    return tree->manifest_cid.ToString();
  }
  JobRecord RunDirSum(Node& n, const std::string& placement, const std::string& verification) {
    const std::string module = Put(n, Example("dir_sum"));
    const std::string tree = PutTree(n);
    const JobRecord job = Submit(n, module, {}, placement, {}, [&](job::JobSpec& s) {
      s.mounts = {{.cid = tree, .path = "/data"}};
      s.output_dir = "/out";
      s.verification = verification;
    });
    return WaitDone(n, job.id);
  }
  // The files of the job's output tree, read back from `n`'s store (verified).
  std::map<std::string, std::string> Files(Node& n, const JobRecord& job) {
    std::map<std::string, std::string> files;
    absl::StatusOr<cas::Cid> cid = cas::Cid::Parse(job.files_cid);
    if (!cid.ok()) return {{"<error>", "no files_cid"}};
    absl::StatusOr<cas::DirManifest> m = cas::GetManifest(n.blobs(), *cid);
    if (!m.ok()) return {{"<error>", std::string(m.status().message())}};
    for (const cas::DirEntry& e : m->entries) {
      if (e.kind != cas::EntryKind::kFile) continue;
      absl::StatusOr<std::string> bytes = n.blobs().Get(*e.cid);
      files[e.path] = bytes.ok() ? *bytes : "<missing>";
    }
    return files;
  }
};

// The tree-independent checks come first: they hold whatever the job could read (the pipeline
// of trees, receipts and votes); the ones after the state check need the job to see its files.
TEST_F(JobFilesMeshTest, TheSameTreeGivesTheSameOutputTreeOnTwoNodes) {
  Node& a = Add();
  Node& b = Add();
  const JobRecord on_a = RunDirSum(a, "local", "hash");
  const JobRecord on_b = RunDirSum(b, "local", "hash");
  ASSERT_FALSE(on_a.files_cid.empty()) << on_a.reason;
  EXPECT_EQ(on_a.files_cid, on_b.files_cid);
  EXPECT_EQ(on_a.output_cid, on_b.output_cid);
  ASSERT_EQ(on_a.state, job::JobState::kSucceeded) << on_a.reason;
  ASSERT_EQ(on_b.state, job::JobState::kSucceeded) << on_b.reason;
  EXPECT_EQ(Output(a, on_a), "2 files, 7 bytes, sum 701\n");
  EXPECT_EQ(Files(a, on_a),
            (std::map<std::string, std::string>{{"summary.txt", std::string(kSummary)}}));
}

TEST_F(JobFilesMeshTest, ReplicateTwoAgreesOnTheOutputTreeAndFetchesIt) {
  Node& a = Add();
  Add();
  Add();
  WaitForMesh();
  const JobRecord local = RunDirSum(a, "local", "hash");
  const JobRecord done = RunDirSum(a, "remote", "replicate(2)");
  EXPECT_EQ(done.role, job::JobRole::kDelegated);
  ASSERT_FALSE(done.files_cid.empty()) << done.reason;
  EXPECT_EQ(done.files_cid, local.files_cid) << "executors wrote another tree than this node";
  EXPECT_EQ(done.output_cid, local.output_cid);
  absl::StatusOr<std::vector<HistoryBlock>> history = a.jobs().History(done.id);
  ASSERT_TRUE(history.ok());
  bool verified = false;
  for (const HistoryBlock& b : *history) {
    if (b.phase != "verified") continue;
    verified = true;
    EXPECT_EQ(b.detail.value("files_cid", ""), done.files_cid) << b.detail.dump();
    EXPECT_EQ(b.detail["agreeing"].size(), 2u) << b.detail.dump();
  }
  EXPECT_TRUE(verified);
  ASSERT_EQ(done.state, job::JobState::kSucceeded) << done.reason;
  // The submitter fetched the tree and its files, checked by CID.
  EXPECT_EQ(Files(a, done),
            (std::map<std::string, std::string>{{"summary.txt", std::string(kSummary)}}));
}

}  // namespace
}  // namespace mesh::node
