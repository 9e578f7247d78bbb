// Trust in an in-process mesh: verification by replication catches a lying executor (made to
// lie with the test-only fault options), a stalling executor is replaced by the deadline and
// refunded, and the submitter's credits are escrowed, paid and refunded in a ledger that
// verifies. Executors that misbehave lose reputation; none of them is ever paid.
#include <map>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mesh/ledger/ledger.h"
#include "mesh/node/node.h"
#include "mesh_test_fixture.h"

namespace mesh::node {
namespace {

using meshtest::Example;
using meshtest::MeshTest;
using meshtest::WaitFor;
using ::testing::HasSubstr;

// The payments `ledger` made to `did`.
int Payments(ledger::Ledger& ledger, const std::string& did) {
  absl::StatusOr<std::vector<ledger::Entry>> entries = ledger.History(did, 100000);
  MESH_CHECK(entries.ok());
  int paid = 0;
  for (const ledger::Entry& e : *entries) paid += e.kind == ledger::EntryKind::kPay ? 1 : 0;
  return paid;
}

void Cheap(NodeConfig& c) {
  // The cheapest bid: this executor is asked first.
  c.mesh.pricing.base_fee = 0;
  c.mesh.pricing.rate_per_gfuel = 1;
}

class TrustTest : public MeshTest {
 protected:
  void ExpectLedgerVerifies(Node& n) {
    absl::StatusOr<ledger::VerifyReport> report = n.settlement().ledger().Verify();
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok) << report->problem;
    EXPECT_GT(report->entries, 0);
  }
};

TEST_F(TrustTest, ReplicateThreeCatchesALiarEveryTimeAndNeverPaysIt) {
  Node& a = Add();
  Node& b = Add();
  Node& c = Add();
  Node& liar = Add([](NodeConfig& c) {
    Cheap(c);
    c.mesh.fault.lie_rate = 1;
  });
  WaitForMesh();
  const std::string liar_did = liar.key().did().ToString();
  const std::string echo = Put(a, Example("echo"));
  std::vector<std::pair<std::string, std::string>> jobs;
  for (int i = 0; i < 4; ++i) {
    const std::string text = "replicated " + std::to_string(i) + "\n";
    jobs.emplace_back(Submit(a, echo, {Put(a, text)}, "remote", {},
                             [](job::JobSpec& s) { s.verification = "replicate(3)"; })
                          .id,
                      text);
  }
  int caught = 0;
  for (const auto& [id, text] : jobs) {
    JobRecord job = WaitDone(a, id);
    ASSERT_EQ(job.state, job::JobState::kSucceeded) << job.reason;
    EXPECT_EQ(Output(a, job), text) << "a lie was accepted";
    EXPECT_NE(job.peer, liar_did);
    ASSERT_OK_AND_ASSIGN(std::vector<HistoryBlock> blocks, a.jobs().History(id));
    const HistoryBlock* verified = nullptr;
    std::set<std::string> ran;
    for (const HistoryBlock& b : blocks) {
      if (b.phase == "verified") verified = &b;
      if (b.phase == "receipt") ran.insert(b.detail["executor"].get<std::string>());
    }
    ASSERT_NE(verified, nullptr) << "no verified block";
    EXPECT_EQ(verified->detail["output_cid"], job.output_cid);
    EXPECT_EQ(verified->detail["agreeing"].size(), 2u) << verified->detail.dump();
    if (ran.contains(liar_did)) {
      ++caught;
      ASSERT_EQ(verified->detail["outvoted"].size(), 1u) << verified->detail.dump();
      EXPECT_EQ(verified->detail["outvoted"][0]["executor"], liar_did);
    }
  }
  // The cheapest bidder is asked first: it ran (and was caught) every time.
  EXPECT_EQ(caught, 4);
  ASSERT_TRUE(WaitFor([&] {
    return Payments(a.settlement().ledger(), b.key().did().ToString()) +
                   Payments(a.settlement().ledger(), c.key().did().ToString()) ==
               8 &&
           a.settlement().ledger().BalanceOf(a.key().did().ToString())->held == 0;
  })) << "every agreeing replica is paid once and every escrow is closed";
  EXPECT_EQ(Payments(a.settlement().ledger(), liar_did), 0);
  const ledger::Reputation rep = a.settlement().Reputation(liar_did);
  EXPECT_EQ(rep.outvoted, 4);
  EXPECT_LT(rep.score, a.settlement().Reputation(b.key().did().ToString()).score);
  // Every escrow is closed: the submitter holds nothing any more.
  ASSERT_OK_AND_ASSIGN(ledger::Balance submitter,
                       a.settlement().ledger().BalanceOf(a.key().did().ToString()));
  EXPECT_EQ(submitter.held, 0);
  ExpectLedgerVerifies(a);
  EXPECT_THAT(a.metrics().RenderText(), HasSubstr("mesh_verify_outvoted_total 4"));
}

TEST_F(TrustTest, AStallingExecutorIsReplacedAndOnlyTheOneThatDeliveredIsPaid) {
  Node& a = Add([](NodeConfig& c) { c.mesh.receipt_grace = absl::Milliseconds(300); });
  Node& staller = Add([](NodeConfig& c) {
    Cheap(c);
    c.mesh.fault.stall = true;
  });
  Node& honest = Add();
  WaitForMesh();
  const std::string echo = Put(a, Example("echo"));
  const int64_t before = a.settlement().ledger().BalanceOf(a.key().did().ToString())->available;
  JobRecord job = Submit(a, echo, {Put(a, "stalled\n")}, "remote", {}, [](job::JobSpec& s) {
    s.limits.wall_time_ms = 1000;
    s.requirements.max_price = 500;
  });
  job = WaitDone(a, job.id);
  ASSERT_EQ(job.state, job::JobState::kSucceeded) << job.reason;
  EXPECT_EQ(job.peer, honest.key().did().ToString());
  EXPECT_EQ(Output(a, job), "stalled\n");
  ASSERT_OK_AND_ASSIGN(std::vector<HistoryBlock> blocks, a.jobs().History(job.id));
  std::vector<std::string> assigned;
  for (const HistoryBlock& b : blocks) {
    if (b.phase == "assigned") assigned.push_back(b.detail["executor"].get<std::string>());
  }
  ASSERT_EQ(assigned.size(), 2u);
  EXPECT_EQ(assigned[0], staller.key().did().ToString());

  ledger::Ledger& book = a.settlement().ledger();
  // Settlement runs after the job's end is recorded: the payment, then the refund of the rest.
  ASSERT_TRUE(WaitFor([&] {
    return Payments(book, honest.key().did().ToString()) == 1 &&
           book.BalanceOf(a.key().did().ToString())->held == 0;
  })) << "the honest executor is paid and the escrow is closed";
  EXPECT_EQ(Payments(book, staller.key().did().ToString()), 0);
  EXPECT_EQ(a.settlement().Reputation(staller.key().did().ToString()).timeouts, 1);
  // The submitter paid the honest executor's bid and the fee; the rest came back.
  ASSERT_OK_AND_ASSIGN(ledger::Balance after, book.BalanceOf(a.key().did().ToString()));
  ASSERT_OK_AND_ASSIGN(ledger::Balance paid, book.BalanceOf(honest.key().did().ToString()));
  EXPECT_GT(before - after.available, 0);
  EXPECT_LE(before - after.available, 500 + book.NetworkFee(500));
  ExpectLedgerVerifies(a);
}

TEST_F(TrustTest, TooLittleCreditIsRefusedBeforeAnythingIsAnnounced) {
  Node& a = Add([](NodeConfig& c) {
    c.trust.regen = {.credits_per_hour = 1, .cap = 100, .start_full = true};
  });
  Add();
  WaitForMesh();
  SubmitRequest r;
  r.spec.module = Put(a, Example("echo"));
  r.spec.placement = "remote";
  r.spec.verification = "replicate(3)";
  r.spec.requirements.max_price = 50;
  absl::StatusOr<SubmitResult> refused = a.compute().Submit(r);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("100"));
  ASSERT_OK_AND_ASSIGN(std::vector<JobRecord> listed, a.jobs().List({}, 100));
  EXPECT_TRUE(listed.empty()) << "a refused job was stored";
  EXPECT_EQ(a.mesh()->Stats().auctions_open, 0u);
  // A job the credits cover goes through.
  r.spec.verification = "hash";
  ASSERT_OK(a.compute().Submit(r).status());
  ExpectLedgerVerifies(a);
}

}  // namespace
}  // namespace mesh::node
