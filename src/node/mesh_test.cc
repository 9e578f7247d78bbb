// In-process meshes: several Nodes in one process, each with its own data dir, worker pool
// and gRPC transport with mutual TLS on loopback. They find each other from one bootstrap
// address, and jobs submitted to one node run on another through the market.
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mesh/cas/byte_source.h"
#include "mesh/common/clock.h"
#include "mesh/common/file_util.h"
#include "mesh/common/rng.h"
#include "mesh/common/testing.h"
#include "mesh/net/grpc_transport.h"
#include "mesh/node/node.h"
#include "mesh_test_fixture.h"

namespace mesh::node {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

using meshtest::Example;
using meshtest::MeshTest;
using meshtest::WaitFor;

TEST_F(MeshTest, ThreeNodesDelegateAJobAndCheckItsOutput) {
  Node& a = Add();
  Node& b = Add();
  Node& c = Add();
  WaitForMesh();
  const std::string echo = Put(a, Example("echo"));
  const std::string input = Put(a, "hello from the submitter\n");
  JobRecord job = Submit(a, echo, {input});
  EXPECT_EQ(job.role, job::JobRole::kDelegated);
  job = WaitDone(a, job.id);
  ASSERT_EQ(job.state, job::JobState::kSucceeded) << job.reason;
  EXPECT_EQ(Output(a, job), "hello from the submitter\n");
  const std::set<std::string> executors = {b.key().did().ToString(), c.key().did().ToString()};
  EXPECT_TRUE(executors.contains(job.peer)) << job.peer;

  // The executor ran the same job id for the submitter, and the history is a checked chain.
  Node& executor = job.peer == b.key().did().ToString() ? b : c;
  ASSERT_OK_AND_ASSIGN(JobRecord remote, executor.compute().Get(job.id));
  EXPECT_EQ(remote.role, job::JobRole::kAssigned);
  EXPECT_EQ(remote.peer, a.key().did().ToString());
  EXPECT_EQ(remote.output_cid, job.output_cid);
  // It verified the assigned spec once, though three of its parts read it (the peer service,
  // the market's assignment check, the compute service storing the job).
  EXPECT_EQ(executor.specs().stats().verified, 1u);
  EXPECT_GE(executor.specs().stats().hits, 2u);
  const std::vector<std::string> phases = Phases(a, job.id);
  // Its auction won the lease of the jobs like it ("lease"): the next such job needs none.
  EXPECT_THAT(phases, ::testing::ElementsAre("submitted", "bidding_open", "bidding_closed", "lease",
                                             "assigned", "executing", "receipt", "completed"));
  ASSERT_OK_AND_ASSIGN(std::vector<HistoryBlock> blocks, a.jobs().History(job.id));
  for (size_t i = 1; i < blocks.size(); ++i) EXPECT_EQ(blocks[i].prev, blocks[i - 1].cid);
  // Both peers bid; the selection kept a score and a reason for each.
  const nlohmann::json& round = blocks[2].detail;
  ASSERT_TRUE(round.contains("selection")) << round.dump();
  EXPECT_EQ(round["selection"]["ranked"].size(), 2u) << round.dump();
  for (const nlohmann::json& bid : round["selection"]["ranked"]) {
    EXPECT_FALSE(bid["reason"].get<std::string>().empty());
  }

  // A job like it, within the lease: no auction, an assignment that says whose bid it uses.
  JobRecord next = WaitDone(a, Submit(a, echo, {Put(a, "and another one\n")}).id);
  ASSERT_EQ(next.state, job::JobState::kSucceeded) << next.reason;
  EXPECT_EQ(Output(a, next), "and another one\n");
  EXPECT_THAT(Phases(a, next.id),
              ::testing::ElementsAre("submitted", "assigned", "executing", "receipt", "completed"));
  ASSERT_OK_AND_ASSIGN(std::vector<HistoryBlock> next_blocks, a.jobs().History(next.id));
  EXPECT_THAT(next_blocks[1].detail.value("lease", ""), HasSubstr(job.id + "/0"));
}

TEST_F(MeshTest, FiveNodesRunManyJobsEachExactlyOnce) {
  Node& a = Add();
  for (int i = 0; i < 4; ++i) Add();
  WaitForMesh();
  const std::string echo = Put(a, Example("echo"));
  std::vector<std::pair<std::string, std::string>> jobs;  // (id, expected output)
  for (int i = 0; i < 24; ++i) {
    const std::string text = "job " + std::to_string(i) + "\n";
    jobs.emplace_back(Submit(a, echo, {Put(a, text)}).id, text);
  }
  std::map<std::string, int> per_executor;
  for (const auto& [id, text] : jobs) {
    JobRecord job = WaitDone(a, id);
    ASSERT_EQ(job.state, job::JobState::kSucceeded) << job.reason;
    EXPECT_EQ(Output(a, job), text);
    EXPECT_EQ(job.attempts, 1);
    ++per_executor[job.peer];
  }
  EXPECT_GE(per_executor.size(), 2u) << "every job went to one executor";
  // Each job ran exactly once in the whole mesh.
  for (const auto& [id, text] : jobs) {
    int runs = 0;
    for (size_t i = 1; i < members_.size(); ++i) {
      absl::StatusOr<JobRecord> r = node(i).compute().Get(id);
      if (r.ok()) {
        ++runs;
        EXPECT_EQ(r->attempts, 1);
      }
    }
    EXPECT_EQ(runs, 1) << id;
  }
}

// Eight auctions open at once and every bid says "idle": without counting what it assigned
// since, the submitter would give all eight to the nearest executor. It spreads them, and no
// executor holds more than its slot and queue (max_queue 4) allow.
TEST_F(MeshTest, ABurstOfJobsIsSpreadAndNoExecutorTakesMoreThanItCanQueue) {
  Node& a = Add();
  Node& b = Add();
  Node& c = Add();
  WaitForMesh();
  const std::string progress = Put(a, Example("progress"));
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) ids.push_back(Submit(a, progress, {}, "remote", {"400000"}).id);
  std::map<std::string, int> per_executor;
  for (const std::string& id : ids) {
    JobRecord job = WaitDone(a, id);
    ASSERT_EQ(job.state, job::JobState::kSucceeded) << job.reason;
    ++per_executor[job.peer];
  }
  for (Node* n : {&b, &c}) {
    const std::string did = n->key().did().ToString();
    EXPECT_GE(per_executor[did], 3) << "uneven spread";
    EXPECT_LE(per_executor[did], 5) << "past 1 slot + max_queue 4";
    int ran = 0;
    for (const std::string& id : ids) ran += n->compute().Get(id).ok() ? 1 : 0;
    EXPECT_EQ(ran, per_executor[did]) << "a job ran on an executor that did not deliver it";
  }
}

// The only executor has one slot and no queue. Three auctions close together and it wins all
// three; it refuses the assignments it has no room for ("no capacity"), and those jobs are
// offered to it again once it has room: a full executor is not excluded from the job.
TEST_F(MeshTest, AnExecutorThatWasFullIsAskedAgainLater) {
  Node& a = Add();
  Add([](NodeConfig& c) { c.mesh.pricing.max_queue = 0; });
  WaitForMesh();
  const std::string echo = Put(a, Example("echo"));
  std::vector<std::pair<std::string, std::string>> jobs;
  for (int i = 0; i < 3; ++i) {
    const std::string text = "one at a time " + std::to_string(i) + "\n";
    jobs.emplace_back(Submit(a, echo, {Put(a, text)}).id, text);
  }
  for (const auto& [id, text] : jobs) {
    JobRecord job = WaitDone(a, id);
    ASSERT_EQ(job.state, job::JobState::kSucceeded) << job.reason;
    EXPECT_EQ(Output(a, job), text);
  }
}

TEST_F(MeshTest, AJobNobodyCanTakeWaitsWithItsReasonUntilCapacityAppears) {
  Node& a = Add();
  Add();
  WaitForMesh();
  const std::string echo = Put(a, Example("echo"));
  JobRecord job = Submit(a, echo, {Put(a, "needs a gpu\n")}, "remote", {},
                         [](job::JobSpec& s) { s.requirements.capabilities = {"gpu"}; });
  ASSERT_TRUE(WaitFor([&] { return Phases(a, job.id).size() >= 3; }));
  ASSERT_OK_AND_ASSIGN(std::vector<HistoryBlock> blocks, a.jobs().History(job.id));
  EXPECT_EQ(blocks[2].phase, "bidding_closed");
  EXPECT_THAT(blocks[2].detail.dump(), HasSubstr("capability"));
  ASSERT_OK_AND_ASSIGN(JobRecord waiting, a.compute().Get(job.id));
  EXPECT_EQ(waiting.state, job::JobState::kQueued) << "no bids must not fail the job";

  Add([](NodeConfig& c) { c.mesh.capabilities = {"gpu"}; });
  job = WaitDone(a, job.id);
  ASSERT_EQ(job.state, job::JobState::kSucceeded) << job.reason;
  EXPECT_EQ(job.peer, node(2).key().did().ToString());
  EXPECT_EQ(Output(a, job), "needs a gpu\n");
}

// The mesh's only GPU node submits a GPU job while its one slot is busy: the job goes to the
// market, where no peer can bid. Once the slot is free it comes home and runs here, its escrow
// refunded, instead of waiting for ever.
TEST_F(MeshTest, AnAutoJobOnlyItsOwnNodeCanRunComesHomeWhenTheSlotFrees) {
  Node& a = Add([](NodeConfig& c) { c.mesh.capabilities = {"gpu"}; });
  Add();
  WaitForMesh();
  const std::string me = a.key().did().ToString();
  ASSERT_OK_AND_ASSIGN(ledger::Balance before, a.settlement().ledger().BalanceOf(me));
  // The slot: a loop that runs until its fuel (some 100 ms to 1 s on the interpreter) is out.
  JobRecord busy = Submit(a, Put(a, Example("loop")), {}, "local", {},
                          [](job::JobSpec& s) { s.limits.fuel = 60'000'000; });
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<JobRecord> j = a.compute().Get(busy.id);
    return j.ok() && j->state == job::JobState::kRunning;
  }));
  JobRecord job = Submit(a, Put(a, Example("echo")), {Put(a, "needs the gpu\n")}, "auto", {},
                         [](job::JobSpec& s) { s.requirements.capabilities = {"gpu"}; });
  EXPECT_EQ(job.role, job::JobRole::kDelegated) << "the slot was busy: it goes to the market";
  job = WaitDone(a, job.id);
  ASSERT_EQ(job.state, job::JobState::kSucceeded) << job.reason;
  EXPECT_EQ(Output(a, job), "needs the gpu\n");
  EXPECT_EQ(job.role, job::JobRole::kLocal);
  EXPECT_EQ(job.peer, "");
  const std::vector<std::string> phases = Phases(a, job.id);
  EXPECT_THAT(phases, Contains("bidding_closed"));
  auto home = std::find(phases.begin(), phases.end(), "run_here");
  ASSERT_NE(home, phases.end()) << ::testing::PrintToString(phases);
  EXPECT_NE(std::find(home, phases.end(), "completed"), phases.end())
      << ::testing::PrintToString(phases);
  EXPECT_EQ(WaitDone(a, busy.id).state, job::JobState::kFailed);  // its fuel ran out first
  EXPECT_THAT(a.metrics().RenderText(), HasSubstr("mesh_market_run_at_home_total 1"));
  // The market's hold on the submitter's credits is gone; nobody was paid.
  ASSERT_OK_AND_ASSIGN(ledger::Balance after, a.settlement().ledger().BalanceOf(me));
  EXPECT_EQ(after.held, 0);
  EXPECT_EQ(after.available, before.available);
}

TEST_F(MeshTest, AnExecutorThatDiesMidJobIsReplaced) {
  Node& a = Add();
  Add();
  Add();
  WaitForMesh();
  const std::string progress = Put(a, Example("progress"));
  // About a second of work on the interpreter: long enough to kill the executor mid-run.
  JobRecord job = Submit(a, progress, {}, "remote", {"3000000"});
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<JobRecord> j = a.compute().Get(job.id);
    return j.ok() && j->state == job::JobState::kRunning;
  }));
  ASSERT_OK_AND_ASSIGN(JobRecord running, a.compute().Get(job.id));
  const std::string victim = running.peer;
  for (auto& m : members_) {
    if (m->node->key().did().ToString() == victim) {
      m->node.reset();  // stops its mesh and workers: silence, as a crash would be
    }
  }
  job = WaitDone(a, job.id, absl::Seconds(90));
  ASSERT_EQ(job.state, job::JobState::kSucceeded) << job.reason;
  EXPECT_NE(job.peer, victim);
  EXPECT_THAT(Output(a, job), HasSubstr("done "));
  EXPECT_THAT(Phases(a, job.id), Contains("requeued"));
}

TEST_F(MeshTest, ALocalJobStaysLocalAndHasAHistory) {
  Node& a = Add();
  Add();
  WaitForMesh();
  const std::string echo = Put(a, Example("echo"));
  JobRecord job = WaitDone(a, Submit(a, echo, {Put(a, "here\n")}, "local").id);
  ASSERT_EQ(job.state, job::JobState::kSucceeded);
  EXPECT_EQ(job.role, job::JobRole::kLocal);
  EXPECT_THAT(Phases(a, job.id), ::testing::ElementsAre("submitted", "executing", "completed"));
}

TEST_F(MeshTest, ANodeOutsideTheAllowListNeverJoins) {
  Node& a = Add([](NodeConfig& c) {
    c.mesh.allowed_peers = {"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"};
  });
  Add();
  absl::SleepFor(absl::Milliseconds(800));  // several heartbeat periods
  EXPECT_EQ(a.mesh()->Stats().peers_alive, 0u);
  EXPECT_EQ(node(1).mesh()->Stats().peers_alive, 0u);
}

}  // namespace
}  // namespace mesh::node
