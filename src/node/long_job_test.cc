// Long jobs in in-process meshes: partial outputs stored (and downloadable) before the job ends,
// signed checkpoints, and a delegated job resuming from its latest checkpoint on another
// executor when its first one dies.
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mesh/common/testing.h"
#include "mesh/crypto/envelope.h"
#include "mesh/node/node.h"
#include "mesh_test_fixture.h"

namespace mesh::node {
namespace {

using meshtest::Example;
using meshtest::MeshTest;
using meshtest::WaitFor;
using ::testing::Contains;

std::vector<HistoryBlock> Blocks(Node& n, const std::string& id, std::string_view phase) {
  std::vector<HistoryBlock> out;
  absl::StatusOr<std::vector<HistoryBlock>> blocks = n.jobs().History(id);
  if (!blocks.ok()) return out;
  for (const HistoryBlock& b : *blocks) {
    if (b.phase == phase) out.push_back(b);
  }
  return out;
}

bool Running(Node& n, const std::string& id) {
  absl::StatusOr<JobRecord> j = n.compute().Get(id);
  return j.ok() && j->state == job::JobState::kRunning;
}

TEST_F(MeshTest, PartialOutputsAndSignedCheckpointsAreStoredWhileTheJobRuns) {
  Node& a = Add();
  const std::string progress = Put(a, Example("progress"));
  // Seconds on the interpreter: partials appear well before the end.
  JobRecord job = Submit(a, progress, {}, "local", {"3000000"});
  std::vector<HistoryBlock> early;
  ASSERT_TRUE(WaitFor([&] {
    early = Blocks(a, job.id, "partial");
    return !early.empty() && Running(a, job.id);
  })) << "no partial output while the job ran";
  ASSERT_OK_AND_ASSIGN(cas::Cid first, cas::Cid::Parse(early[0].detail["cid"].get<std::string>()));
  ASSERT_OK_AND_ASSIGN(std::string bytes, a.blobs().Get(first));
  EXPECT_EQ(bytes, "partial 1\n");

  job = WaitDone(a, job.id);
  ASSERT_EQ(job.state, job::JobState::kSucceeded) << job.reason;
  const std::vector<HistoryBlock> partials = Blocks(a, job.id, "partial");
  ASSERT_EQ(partials.size(), 10u);
  for (size_t i = 0; i < partials.size(); ++i) EXPECT_EQ(partials[i].detail["index"], i);
  const std::vector<HistoryBlock> checkpoints = Blocks(a, job.id, "checkpoint");
  ASSERT_EQ(checkpoints.size(), 2u);
  for (const HistoryBlock& b : checkpoints) {
    EXPECT_EQ(b.detail["bytes"], 24);
    // The signed record names the job, the checkpoint blob and the node that signed it.
    ASSERT_OK_AND_ASSIGN(cas::Cid signed_cid,
                         cas::Cid::Parse(b.detail["signed"].get<std::string>()));
    ASSERT_OK_AND_ASSIGN(std::string envelope, a.blobs().Get(signed_cid));
    ASSERT_OK_AND_ASSIGN(crypto::Envelope opened,
                         crypto::Envelope::Open(envelope, kCheckpointPayloadType));
    EXPECT_EQ(opened.signer().ToString(), a.key().did().ToString());
    const nlohmann::json claim = nlohmann::json::parse(opened.payload());
    EXPECT_EQ(claim["job"], job.id);
    EXPECT_EQ(claim["checkpoint"], b.detail["cid"]);
  }
}

TEST_F(MeshTest, ADelegatedJobResumesFromItsCheckpointOnAnotherExecutor) {
  Node& a = Add();
  Add();
  Add();
  WaitForMesh();
  const std::string progress = Put(a, Example("progress"));
  const std::vector<std::string> args = {"3000000"};
  JobRecord job = Submit(a, progress, {}, "remote", args);
  // The first checkpoint (after step 5) reaches the submitter while the job still runs.
  ASSERT_TRUE(
      WaitFor([&] { return !Blocks(a, job.id, "checkpoint").empty() && Running(a, job.id); },
              absl::Seconds(60)))
      << "no checkpoint reached the submitter while the job ran";
  EXPECT_FALSE(Blocks(a, job.id, "partial").empty()) << "partials reach the submitter too";
  ASSERT_OK_AND_ASSIGN(JobRecord running, a.compute().Get(job.id));
  const std::string victim = running.peer;
  for (auto& m : members_) {
    if (m->node != nullptr && m->node->key().did().ToString() == victim) m->node.reset();
  }
  job = WaitDone(a, job.id, absl::Seconds(120));
  ASSERT_EQ(job.state, job::JobState::kSucceeded) << job.reason;
  ASSERT_NE(job.peer, victim);
  // The second executor was told where to resume, recorded it, and did only the rest.
  const std::vector<HistoryBlock> assigned = Blocks(a, job.id, "assigned");
  ASSERT_GE(assigned.size(), 2u);
  std::string victims_last;
  for (const HistoryBlock& b : Blocks(a, job.id, "checkpoint")) {
    if (b.detail["executor"] == victim) victims_last = b.detail["cid"];
  }
  EXPECT_EQ(assigned.back().detail["resume_checkpoint"], victims_last);
  Node* second = nullptr;
  for (auto& m : members_) {
    if (m->node != nullptr && m->node->key().did().ToString() == job.peer) second = m->node.get();
  }
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(Blocks(*second, job.id, "resume").size(), 1u);

  // The resumed result is the one a run from the start gives, for less fuel.
  JobRecord fresh = WaitDone(a, Submit(a, progress, {}, "local", args).id, absl::Seconds(120));
  ASSERT_EQ(fresh.state, job::JobState::kSucceeded) << fresh.reason;
  EXPECT_EQ(Output(a, job), Output(a, fresh));
  EXPECT_LT(job.fuel_used, fresh.fuel_used * 3 / 4);
}

}  // namespace
}  // namespace mesh::node
