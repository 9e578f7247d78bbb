// Hostile peers: tampered, mis-signed, replayed, stale and oversized messages are refused and
// counted; an executor whose output bytes do not match its receipt is caught and replaced.
#include <filesystem>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mesh/cas/byte_source.h"
#include "mesh/common/clock.h"
#include "mesh/common/file_util.h"
#include "mesh/common/rng.h"
#include "mesh/common/testing.h"
#include "mesh/job/market.h"
#include "mesh/net/grpc_transport.h"
#include "mesh/node/node.h"
#include "mesh_test_fixture.h"

namespace mesh::node {
namespace {

using ::testing::HasSubstr;

std::string Nonce(Rng& rng) {
  std::string out;
  for (int i = 0; i < 2; ++i) out += absl::StrCat(absl::Hex(rng.Next64(), absl::kZeroPad16));
  return out;
}

class TamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mesh-tamper-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    node_ = StartNode(dir_ / "a", {});
  }
  void TearDown() override {
    honest_.reset();
    node_.reset();
    std::filesystem::remove_all(dir_);
  }

  // `dead_after` 0 keeps the test config's (1 s).
  std::unique_ptr<Node> StartNode(const std::filesystem::path& dir, std::vector<std::string> peers,
                                  absl::Duration dead_after = absl::ZeroDuration()) {
    NodeConfig config = meshtest::TestNodeConfig(dir, std::move(peers));
    if (dead_after > absl::ZeroDuration()) config.mesh.dead_after = dead_after;
    absl::StatusOr<std::unique_ptr<Node>> n = Node::Start(std::move(config), clock_, rng_);
    MESH_CHECK(n.ok());
    return *std::move(n);
  }

  job::Heartbeat Beat(const crypto::KeyPair& key) {
    job::Heartbeat hb;
    hb.node = key.did().ToString();
    hb.address = "127.0.0.1:9";
    hb.max_concurrent = 1;
    return hb;
  }
  std::string Seal(const crypto::KeyPair& key, job::Message m, absl::Time at) {
    return job::SealMessage(key, std::move(m), absl::ToUnixMillis(at), Nonce(rng_)).Serialize();
  }
  std::string Metrics() { return node_->metrics().RenderText(); }

  SystemClock clock_;
  SecureRng rng_;
  std::filesystem::path dir_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<Node> honest_;
};

TEST_F(TamperTest, ABadSignatureIsRefusedAndCounted) {
  crypto::KeyPair peer = crypto::KeyPair::Generate();
  std::string bytes = Seal(peer, Beat(peer), clock_.Now());
  bytes[bytes.size() - 5] ^= 0x01;  // inside the signature
  absl::StatusOr<std::string> reply = node_->mesh()->OnMessage(peer.did(), bytes, 1);
  EXPECT_FALSE(reply.ok());
  EXPECT_THAT(Metrics(), HasSubstr("mesh_net_messages_refused_total{reason=\"signature\"} 1"));
}

TEST_F(TamperTest, AMessageSignedByAnotherNodeThanTheConnectionIsRefused) {
  crypto::KeyPair signer = crypto::KeyPair::Generate();
  crypto::KeyPair connection = crypto::KeyPair::Generate();
  absl::StatusOr<std::string> reply =
      node_->mesh()->OnMessage(connection.did(), Seal(signer, Beat(signer), clock_.Now()), 1);
  EXPECT_TRUE(absl::IsPermissionDenied(reply.status())) << reply.status();
  EXPECT_THAT(Metrics(), HasSubstr("mesh_net_messages_refused_total{reason=\"wrong_signer\"} 1"));
}

TEST_F(TamperTest, AReplayedMessageIsRefused) {
  crypto::KeyPair peer = crypto::KeyPair::Generate();
  const std::string bytes = Seal(peer, Beat(peer), clock_.Now());
  ASSERT_OK(node_->mesh()->OnMessage(peer.did(), bytes, 1).status());
  absl::StatusOr<std::string> again = node_->mesh()->OnMessage(peer.did(), bytes, 1);
  EXPECT_TRUE(absl::IsAlreadyExists(again.status())) << again.status();
  EXPECT_THAT(Metrics(), HasSubstr("mesh_net_messages_refused_total{reason=\"replayed\"} 1"));
}

TEST_F(TamperTest, AStaleMessageIsRefused) {
  crypto::KeyPair peer = crypto::KeyPair::Generate();
  absl::StatusOr<std::string> reply = node_->mesh()->OnMessage(
      peer.did(), Seal(peer, Beat(peer), clock_.Now() - absl::Minutes(10)), 1);
  EXPECT_TRUE(absl::IsFailedPrecondition(reply.status())) << reply.status();
  EXPECT_THAT(reply.status().message(), HasSubstr("stale"));
  EXPECT_THAT(Metrics(), HasSubstr("mesh_net_messages_refused_total{reason=\"stale\"} 1"));
}

TEST_F(TamperTest, AnOversizedOrTruncatedMessageIsRefused) {
  crypto::KeyPair peer = crypto::KeyPair::Generate();
  absl::StatusOr<std::string> big =
      node_->mesh()->OnMessage(peer.did(), std::string(net::kMaxMessageBytes + 1, 'x'), 1);
  EXPECT_TRUE(absl::IsResourceExhausted(big.status())) << big.status();
  const std::string bytes = Seal(peer, Beat(peer), clock_.Now());
  absl::StatusOr<std::string> cut =
      node_->mesh()->OnMessage(peer.did(), bytes.substr(0, bytes.size() / 2), 1);
  EXPECT_FALSE(cut.ok());
  EXPECT_THAT(Metrics(), HasSubstr("mesh_net_messages_refused_total{reason=\"too_large\"} 1"));
}

// An executor that bids lowest, accepts, and then serves bytes that do not match the output
// CID its receipt claims.
class LyingExecutor final : public net::Handler {
 public:
  LyingExecutor() : key_(crypto::KeyPair::Generate()) {
    absl::StatusOr<std::unique_ptr<net::Transport>> t =
        net::MakeGrpcTransport(key_, net::GrpcTransportOptions{});
    MESH_CHECK(t.ok());
    transport_ = *std::move(t);
    MESH_CHECK(transport_->Start(this).ok());
  }
  ~LyingExecutor() override {
    transport_->Shutdown();
    for (std::thread& t : threads_) t.join();
  }
  std::string address() const { return transport_->address(); }
  const crypto::KeyPair& key() const { return key_; }
  int assignments() const { return assignments_; }

  absl::StatusOr<std::string> OnMessage(const crypto::DidKey& peer, std::string_view envelope,
                                        int ttl) override {
    absl::StatusOr<job::OpenedMessage> m = job::OpenMessage(envelope, net::kMaxMessageBytes);
    if (!m.ok()) return m.status();
    const absl::Time now = clock_.Now();
    if (std::holds_alternative<job::Heartbeat>(m->message)) {
      job::Heartbeat hb;
      hb.node = key_.did().ToString();
      hb.address = address();
      hb.cpu_cores = 64;
      hb.memory_bytes = 64ull << 30;
      hb.max_concurrent = 64;
      return Seal(hb, now);
    }
    if (const auto* an = std::get_if<job::Announce>(&m->message)) {
      job::Bid bid;
      bid.job_id = an->job_id;
      bid.round = an->round;
      bid.executor = key_.did().ToString();
      bid.executor_address = address();
      bid.cpu_cores = 64;
      bid.memory_bytes = 64ull << 30;
      bid.storage_bytes = 1ull << 40;
      bid.expected_start_ms = absl::ToUnixMillis(now);
      bid.valid_until_ms = absl::ToUnixMillis(now + absl::Minutes(1));
      return Seal(bid, now);  // price 0: it always wins
    }
    if (const auto* as = std::get_if<job::Assignment>(&m->message)) {
      ++assignments_;
      job::AssignmentAck ack;
      ack.job_id = as->job_id;
      ack.round = as->round;
      ack.executor = key_.did().ToString();
      ack.accepted = true;
      job::Receipt r;
      r.job_id = as->job_id;
      r.round = as->round;
      r.executor = key_.did().ToString();
      r.assignment_cid = cas::Cid::Of(envelope).ToString();
      r.outcome = "ok";
      r.output_cid = cas::Cid::Of(kClaimed).ToString();
      r.output_bytes = kClaimed.size();
      r.fuel_used = 1000;
      r.report = nlohmann::json::object();
      std::string receipt = Seal(r, now);
      net::Endpoint origin{as->origin_address, crypto::DidKey::Parse(as->origin).value()};
      threads_.emplace_back([this, origin, receipt] {
        absl::SleepFor(absl::Milliseconds(20));
        transport_->Send(origin, receipt, 1, absl::Seconds(5), [](absl::StatusOr<std::string>) {});
      });
      return Seal(ack, now);
    }
    return std::string();
  }
  absl::StatusOr<std::unique_ptr<cas::ByteSource>> OpenBlob(const crypto::DidKey& peer,
                                                            std::string_view request) override {
    return std::unique_ptr<cas::ByteSource>(std::make_unique<cas::StringSource>(kServed));
  }

 private:
  static constexpr std::string_view kClaimed = "an answer the submitter has never seen\n";
  static constexpr std::string_view kServed = "the wrong answer\n";
  std::string Seal(job::Message m, absl::Time now) {
    return job::SealMessage(key_, std::move(m), absl::ToUnixMillis(now), Nonce(rng_)).Serialize();
  }
  SystemClock clock_;
  SecureRng rng_;
  crypto::KeyPair key_;
  std::unique_ptr<net::Transport> transport_;
  std::vector<std::thread> threads_;
  std::atomic<int> assignments_{0};
};

TEST_F(TamperTest, AlteredOutputBytesAreCaughtAndTheJobRunsElsewhere) {
  LyingExecutor liar;
  // The submitter meets the liar first and an honest executor second. The liar answers pings
  // but no other membership message: once declared dead (a ping answered late on a loaded
  // machine, past the tests' 1 s) it could never be asked back into the view, so the
  // submitter waits longer before declaring a peer dead.
  node_.reset();
  std::filesystem::remove_all(dir_ / "a");
  // The liar answers no Neighbor request either: it enters the active view only as the first
  // contact of a node whose view is empty (a Join), so the honest node starts once it is in.
  node_ = StartNode(dir_ / "a", {liar.address()}, absl::Seconds(30));
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  auto wait_for_peers = [&](size_t n) {
    while (node_->mesh()->Stats().peers_alive < n && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    return node_->mesh()->Stats().peers_alive;
  };
  ASSERT_EQ(wait_for_peers(1), 1u);
  honest_ = StartNode(dir_ / "b", {node_->mesh()->address()});
  ASSERT_EQ(wait_for_peers(2), 2u);

  absl::StatusOr<std::string> echo =
      ReadFileToString(std::string(MESH_EXAMPLES_DIR) + "/echo.wasm", 64 << 20);
  ASSERT_OK(echo.status());
  ASSERT_OK_AND_ASSIGN(cas::Cid module, node_->blobs().PutBytes(*echo));
  ASSERT_OK_AND_ASSIGN(cas::Cid input, node_->blobs().PutBytes("the right answer\n"));
  SubmitRequest request;
  request.spec.module = module.ToString();
  request.spec.inputs = {input.ToString()};
  request.spec.placement = "remote";
  ASSERT_OK_AND_ASSIGN(SubmitResult submitted, node_->compute().Submit(std::move(request)));
  JobRecord job;
  while (absl::Now() < deadline + absl::Seconds(20)) {
    absl::StatusOr<JobRecord> j = node_->compute().Get(submitted.job.id);
    if (j.ok() && job::IsTerminal(j->state)) {
      job = *j;
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  if (job.state != job::JobState::kSucceeded) {
    absl::StatusOr<std::vector<HistoryBlock>> h = node_->jobs().History(submitted.job.id);
    for (const HistoryBlock& b : h.value_or(std::vector<HistoryBlock>{})) {
      ADD_FAILURE() << b.phase << " " << b.detail.dump();
    }
  }
  ASSERT_EQ(job.state, job::JobState::kSucceeded) << job.reason;
  EXPECT_GE(liar.assignments(), 1) << "the liar was never picked; the test shows nothing";
  EXPECT_EQ(job.peer, honest_->key().did().ToString());
  ASSERT_OK_AND_ASSIGN(std::string output,
                       node_->blobs().Get(cas::Cid::Parse(job.output_cid).value()));
  EXPECT_EQ(output, "the right answer\n");
  EXPECT_THAT(Metrics(), HasSubstr("mesh_market_receipts_total{result=\"bad_output\"} 1"));
  ASSERT_OK_AND_ASSIGN(std::vector<HistoryBlock> blocks, node_->jobs().History(job.id));
  bool requeued = false;
  for (const HistoryBlock& b : blocks) {
    if (b.phase == "requeued") {
      requeued = true;
      EXPECT_THAT(b.detail.dump(), HasSubstr("do not hash"));
    }
  }
  EXPECT_TRUE(requeued);
}

}  // namespace
}  // namespace mesh::node
