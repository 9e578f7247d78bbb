// The in-process mesh fixture shared by the mesh tests: several Nodes in one process, each with
// its own data dir, worker pool and gRPC transport with mutual TLS on loopback, bootstrapping
// from the first. Test-only.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "mesh/common/clock.h"
#include "mesh/common/file_util.h"
#include "mesh/common/rng.h"
#include "mesh/common/testing.h"
#include "mesh/node/node.h"

namespace mesh::node::meshtest {

inline std::string Example(const std::string& name) {
  absl::StatusOr<std::string> bytes =
      ReadFileToString(std::string(MESH_EXAMPLES_DIR) + "/" + name + ".wasm", 64 << 20);
  MESH_CHECK(bytes.ok());
  return *bytes;
}

// A node for an in-process mesh: its own data dir, any free ports, one interpreter slot, and
// membership timings short enough for tests.
inline NodeConfig TestNodeConfig(const std::filesystem::path& dir, std::vector<std::string> peers) {
  NodeConfig c;
  c.data_dir = dir;
  c.listen_port = 0;
  c.max_concurrent = 1;
  c.engine = wasm::EngineKind::kInterp;
  c.worker_path = MESH_WORKER_PATH;
  c.mesh.listen = "127.0.0.1:0";
  c.mesh.peers = std::move(peers);
  c.mesh.heartbeat = absl::Milliseconds(100);
  c.mesh.dead_after = absl::Seconds(1);
  c.mesh.retry.base = absl::Milliseconds(20);
  return c;
}

inline bool WaitFor(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(30)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return done();
}

class MeshTest : public ::testing::Test {
 protected:
  struct Member {
    std::filesystem::path dir;
    SecureRng rng;
    std::unique_ptr<Node> node;
  };

  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("mesh-test-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override {
    for (auto& m : members_) {
      if (m->node != nullptr) m->node->Drain(absl::ZeroDuration());
    }
    members_.clear();
    std::filesystem::remove_all(root_);
  }

  // Starts a node; every node after the first bootstraps from the first.
  Node& Add(const std::function<void(NodeConfig&)>& tweak = {}) {
    auto m = std::make_unique<Member>();
    m->dir = root_ / ("n" + std::to_string(members_.size()));
    std::vector<std::string> peers;
    if (!members_.empty()) peers.push_back(members_[0]->node->mesh()->address());
    NodeConfig config = TestNodeConfig(m->dir, peers);
    if (tweak) tweak(config);
    absl::StatusOr<std::unique_ptr<Node>> node = Node::Start(config, clock_, m->rng);
    MESH_CHECK(node.ok());
    m->node = *std::move(node);
    members_.push_back(std::move(m));
    return *members_.back()->node;
  }

  Node& node(size_t i) { return *members_[i]->node; }

  // Waits until every node sees every other as alive.
  void WaitForMesh() {
    const size_t n = members_.size();
    ASSERT_TRUE(WaitFor([&] {
      for (auto& m : members_) {
        if (m->node->mesh()->Stats().peers_alive < n - 1) return false;
      }
      return true;
    })) << "the mesh did not form";
  }

  std::string Put(Node& n, std::string_view bytes) {
    absl::StatusOr<cas::Cid> cid = n.blobs().PutBytes(bytes);
    MESH_CHECK(cid.ok());
    return cid->ToString();
  }

  JobRecord Submit(Node& n, const std::string& module, std::vector<std::string> inputs,
                   std::string placement = "remote", std::vector<std::string> args = {},
                   const std::function<void(job::JobSpec&)>& tweak = {}) {
    SubmitRequest r;
    r.spec.module = module;
    r.spec.inputs = std::move(inputs);
    r.spec.args = std::move(args);
    r.spec.placement = std::move(placement);
    if (tweak) tweak(r.spec);
    absl::StatusOr<SubmitResult> result = n.compute().Submit(std::move(r));
    MESH_CHECK(result.ok());
    return result->job;
  }

  JobRecord WaitDone(Node& n, const std::string& id, absl::Duration timeout = absl::Seconds(60)) {
    JobRecord job;
    WaitFor(
        [&] {
          absl::StatusOr<JobRecord> j = n.compute().Get(id);
          if (j.ok()) job = *j;
          return j.ok() && job::IsTerminal(j->state);
        },
        timeout);
    return job;
  }

  std::string Output(Node& n, const JobRecord& job) {
    absl::StatusOr<cas::Cid> cid = cas::Cid::Parse(job.output_cid);
    if (!cid.ok()) return "<no output cid>";
    absl::StatusOr<std::string> bytes = n.blobs().Get(*cid);
    return bytes.ok() ? *bytes : "<output missing>";
  }

  std::vector<std::string> Phases(Node& n, const std::string& id) {
    absl::StatusOr<std::vector<HistoryBlock>> blocks = n.jobs().History(id);
    MESH_CHECK(blocks.ok());
    std::vector<std::string> phases;
    for (const HistoryBlock& b : *blocks) phases.push_back(b.phase);
    return phases;
  }

  SystemClock clock_;
  std::filesystem::path root_;
  std::vector<std::unique_ptr<Member>> members_;
};

}  // namespace mesh::node::meshtest
