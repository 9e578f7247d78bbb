// Split jobs in in-process meshes: chunks on a lease across executors, an ordered merge checked
// bit for bit, a Merkle proof for every chunk, reassignment when an executor dies, WASM split
// and merge modules, and the failures a split job must name.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mesh/common/hex.h"
#include "mesh/common/testing.h"
#include "mesh/job/splitters.h"
#include "mesh/node/node.h"
#include "mesh/verify/merkle_tree.h"
#include "mesh_test_fixture.h"

namespace mesh::node {
namespace {

using meshtest::Example;
using meshtest::MeshTest;
using meshtest::WaitFor;
using ::testing::Contains;
using ::testing::HasSubstr;

// examples/matmul.c's generator and product, natively: the reference the mesh must match.
struct Matrices {
  std::vector<double> a, b;
};

Matrices Generate(uint32_t n, uint64_t seed) {
  Matrices m;
  uint64_t state = seed;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) * (1.0 / 4503599627370496.0) - 1.0;
  };
  for (size_t i = 0; i < size_t{n} * n; ++i) m.a.push_back(next());
  for (size_t i = 0; i < size_t{n} * n; ++i) m.b.push_back(next());
  return m;
}

std::string Bytes(const std::vector<double>& v) {
  std::string out(v.size() * 8, '\0');
  std::memcpy(out.data(), v.data(), out.size());  // little-endian host (x86-64, aarch64)
  return out;
}

std::vector<double> NativeProduct(const Matrices& m, uint32_t n) {
  std::vector<double> c(size_t{n} * n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < n; ++k) {
      const double aik = m.a[i * n + k];
      for (size_t j = 0; j < n; ++j) {
        volatile double p = aik * m.b[k * n + j];  // no FMA contraction
        c[i * n + j] += p;
      }
    }
  }
  return c;
}

class SplitTest : public MeshTest {
 protected:
  JobRecord SubmitSplit(Node& n, const std::string& module, std::vector<std::string> inputs,
                        job::SplitSpec split, std::vector<std::string> args = {},
                        std::string placement = "remote") {
    return Submit(n, module, std::move(inputs), std::move(placement), std::move(args),
                  [&](job::JobSpec& s) { s.split = split; });
  }
  // The product of two generated n x n matrices (`seed`), split `rows` rows of A per chunk and
  // run on `n` itself; the split job's id.
  std::string SubmitLocalMatmul(Node& a, uint32_t n, uint64_t seed, uint32_t rows) {
    const Matrices m = Generate(n, seed);
    job::SplitSpec split;
    split.splitter.kind = job::Splitter::kBytes;
    split.splitter.chunk_bytes = uint64_t{rows} * n * 8;
    return SubmitSplit(a, Put(a, Example("matmul")), {Put(a, Bytes(m.a)), Put(a, Bytes(m.b))},
                       split, {"--block", std::to_string(n)}, "local")
        .id;
  }
  // Stops member `i` (a running chunk goes back to the queue), and starts it again on the same
  // data dir, running one job at a time.
  void Stop(size_t i) {
    members_[i]->node->Drain(absl::ZeroDuration());
    members_[i]->node.reset();
  }
  void StartAgain(size_t i) {
    NodeConfig config = meshtest::TestNodeConfig(members_[i]->dir, {});
    config.max_concurrent = 1;
    absl::StatusOr<std::unique_ptr<Node>> restarted = Node::Start(config, clock_, members_[i]->rng);
    ASSERT_OK(restarted.status());
    members_[i]->node = *std::move(restarted);
  }
};

TEST_F(SplitTest, AMatrixProductRunsInChunksOnOneLeaseAndMergesBitForBit) {
  Node& a = Add();
  Node& b = Add();
  Node& c = Add();
  WaitForMesh();
  constexpr uint32_t kN = 100;
  const Matrices m = Generate(kN, 7);
  job::SplitSpec split;
  split.splitter.kind = job::Splitter::kBytes;
  split.splitter.chunk_bytes = 10 * kN * 8;  // 10 rows of A per chunk: 10 chunks
  JobRecord job = SubmitSplit(a, Put(a, Example("matmul")),
                              {Put(a, Bytes(m.a)), Put(a, Bytes(m.b))}, split, {"--block", "100"});
  EXPECT_EQ(job.role, job::JobRole::kSplit);
  job = WaitDone(a, job.id, absl::Seconds(120));
  ASSERT_EQ(job.state, job::JobState::kSucceeded) << job.reason;
  EXPECT_EQ(Output(a, job), Bytes(NativeProduct(m, kN)));

  ASSERT_OK_AND_ASSIGN(SplitStatus status, a.splits().Status(job.id));
  ASSERT_EQ(status.chunks.size(), 10u);
  EXPECT_EQ(status.done, 10u);
  std::map<std::string, int> per_executor;
  size_t auctions = 0;
  for (const ChunkStatus& chunk : status.chunks) {
    ++per_executor[chunk.executor];
    const std::vector<std::string> phases = Phases(a, chunk.job_id);
    auctions += std::count(phases.begin(), phases.end(), "bidding_open");
    EXPECT_THAT(phases, Contains("assigned"));
  }
  // One auction won the lease; every other chunk went to a holder without one.
  EXPECT_EQ(auctions, 1u);
  EXPECT_EQ(per_executor.size(), 2u) << "both executors hold the lease and run chunks";
  EXPECT_TRUE(per_executor.contains(b.key().did().ToString()));
  EXPECT_TRUE(per_executor.contains(c.key().did().ToString()));
  EXPECT_THAT(Phases(a, job.id),
              ::testing::IsSupersetOf({"split", "lease", "merged", "completed"}));

  // Every chunk's output proves its place under the root the split receipt signed.
  ASSERT_OK_AND_ASSIGN(verify::Digest root, verify::ParseDigestHex(status.merkle_root));
  for (uint32_t i = 0; i < 10; ++i) {
    ASSERT_OK_AND_ASSIGN(ChunkProof p, a.splits().Proof(job.id, i));
    ASSERT_OK_AND_ASSIGN(cas::Cid out, cas::Cid::Parse(p.output_cid));
    EXPECT_OK(verify::VerifyInclusion(root, 10, verify::LeafForCid(out), p.proof));
    // ...and not the place of another chunk.
    ASSERT_OK_AND_ASSIGN(cas::Cid other, cas::Cid::Parse(status.chunks[(i + 1) % 10].output_cid));
    EXPECT_FALSE(verify::VerifyInclusion(root, 10, verify::LeafForCid(other), p.proof).ok());
  }
  EXPECT_EQ(a.splits().Proof(job.id, 10).status().code(), absl::StatusCode::kOutOfRange);
  nlohmann::json report = nlohmann::json::parse(job.report_json);
  EXPECT_EQ(report["split"]["merkle_root"], status.merkle_root);
  EXPECT_EQ(report["split"]["chunks"], 10);
}

TEST_F(SplitTest, EachChunkIsVerifiedByItsOwnVoteOnTheLease) {
  Node& a = Add();
  Node& b = Add();
  Node& c = Add();
  WaitForMesh();
  std::string text;
  for (int i = 0; i < 8; ++i) text += "line " + std::to_string(i) + " of the text\n";
  job::SplitSpec split;
  split.splitter.kind = job::Splitter::kLines;
  split.splitter.parts = 4;
  JobRecord job =
      Submit(a, Put(a, Example("wordcount")), {Put(a, text)}, "remote", {}, [&](job::JobSpec& s) {
        s.split = split;
        s.verification = "replicate(2)";
      });
  job = WaitDone(a, job.id, absl::Seconds(120));
  ASSERT_EQ(job.state, job::JobState::kSucceeded) << job.reason;
  // Each chunk: 2 lines of 5 words, 38 bytes.
  std::string expected;
  for (int i = 0; i < 4; ++i) expected += "2 10 38\n";
  EXPECT_EQ(Output(a, job), expected);
  ASSERT_OK_AND_ASSIGN(SplitStatus status, a.splits().Status(job.id));
  const std::set<std::string> both = {b.key().did().ToString(), c.key().did().ToString()};
  for (const ChunkStatus& chunk : status.chunks) {
    // Two replicas on the two lease holders agreed on this chunk's output.
    ASSERT_OK_AND_ASSIGN(std::vector<HistoryBlock> blocks, a.jobs().History(chunk.job_id));
    const HistoryBlock* verified = nullptr;
    std::set<std::string> assigned;
    for (const HistoryBlock& h : blocks) {
      if (h.phase == "verified") verified = &h;
      if (h.phase == "assigned") assigned.insert(h.detail["executor"].get<std::string>());
    }
    ASSERT_NE(verified, nullptr) << "chunk " << chunk.index;
    EXPECT_EQ(verified->detail["agreeing"].size(), 2u) << verified->detail.dump();
    EXPECT_EQ(assigned, both) << "chunk " << chunk.index;
  }
}

TEST_F(SplitTest, ChunksOfADeadExecutorAreReassignedToTheOtherHolder) {
  Node& a = Add();
  Add();
  Add();
  WaitForMesh();
  // Each chunk is about a second of work on the interpreter (debug build).
  std::string lines;
  for (int i = 0; i < 6; ++i) lines += "x\n";
  job::SplitSpec split;
  split.splitter.kind = job::Splitter::kLines;
  split.splitter.parts = 6;
  split.chunk_module = Put(a, Example("progress"));
  // progress ignores stdin and reads its work from argv; every chunk gets the same args.
  JobRecord job = SubmitSplit(a, split.chunk_module, {Put(a, lines)}, split, {"700000"});
  std::string victim;
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<SplitStatus> s = a.splits().Status(job.id);
    if (!s.ok()) return false;
    for (const ChunkStatus& c : s->chunks) {
      absl::StatusOr<JobRecord> chunk = a.compute().Get(c.job_id);
      if (chunk.ok() && chunk->state == job::JobState::kRunning) victim = chunk->peer;
    }
    return !victim.empty();
  }));
  for (auto& member : members_) {
    if (member->node != nullptr && member->node->key().did().ToString() == victim) {
      member->node.reset();  // a crash: silence
    }
  }
  job = WaitDone(a, job.id, absl::Seconds(120));
  ASSERT_EQ(job.state, job::JobState::kSucceeded) << job.reason;
  ASSERT_OK_AND_ASSIGN(SplitStatus status, a.splits().Status(job.id));
  size_t requeued = 0;
  for (const ChunkStatus& c : status.chunks) {
    EXPECT_NE(c.executor, victim) << "chunk " << c.index << " is credited to the dead executor";
    const std::vector<std::string> phases = Phases(a, c.job_id);
    requeued += std::count(phases.begin(), phases.end(), "requeued");
  }
  EXPECT_GE(requeued, 1u);
  // Every chunk ran the same deterministic work: six equal lines, in chunk order.
  const std::vector<std::string> outputs = absl::StrSplit(Output(a, job), '\n', absl::SkipEmpty());
  ASSERT_EQ(outputs.size(), 6u) << Output(a, job);
  for (const std::string& line : outputs) {
    EXPECT_THAT(line, ::testing::StartsWith("done "));
    EXPECT_EQ(line, outputs[0]);
  }
}

TEST_F(SplitTest, AWasmSplitterAndMergerRunOnTheSubmitter) {
  Node& a = Add();
  std::string csv = "name,count\n";
  for (int i = 0; i < 50; ++i) csv += "row " + std::to_string(i) + ",x y\n";
  job::SplitSpec split;
  split.splitter.kind = job::Splitter::kWasm;
  split.splitter.module = Put(a, Example("csv_split"));
  split.splitter.parts = 4;
  split.merger.kind = job::Merger::kWasm;
  split.merger.module = Put(a, Example("wordcount_merge"));
  JobRecord job = WaitDone(
      a, SubmitSplit(a, Put(a, Example("wordcount")), {Put(a, csv)}, split, {}, "local").id);
  ASSERT_EQ(job.state, job::JobState::kSucceeded) << job.reason;
  // 4 parts, each with the header: 50 rows + 4 headers = 54 lines, 50*3 + 4 words.
  const size_t bytes = csv.size() + 3 * std::string("name,count\n").size();
  EXPECT_EQ(Output(a, job), "54 154 " + std::to_string(bytes) + "\n");
  ASSERT_OK_AND_ASSIGN(SplitStatus status, a.splits().Status(job.id));
  EXPECT_EQ(status.chunks.size(), 4u);
  for (const ChunkStatus& c : status.chunks) EXPECT_EQ(c.executor, "") << "ran here";
}

TEST_F(SplitTest, ASplitModuleThatWritesNoFramesFailsTheJobWithTheReason) {
  Node& a = Add();
  job::SplitSpec split;
  split.splitter.kind = job::Splitter::kWasm;
  split.splitter.module = Put(a, Example("echo"));  // echoes its input: "abc" is not frames
  JobRecord job = WaitDone(
      a, SubmitSplit(a, Put(a, Example("wordcount")), {Put(a, "abc")}, split, {}, "local").id);
  ASSERT_EQ(job.state, job::JobState::kFailed);
  EXPECT_THAT(job.reason, HasSubstr("not frames"));
  EXPECT_THAT(job.reason, HasSubstr("truncated length"));
}

TEST_F(SplitTest, AFailingChunkFailsTheJobNamingItAndCancelsTheRest) {
  Node& a = Add([](NodeConfig& c) { c.max_concurrent = 1; });
  job::SplitSpec split;
  split.splitter.kind = job::Splitter::kLines;
  split.splitter.parts = 3;
  split.chunk_module = Put(a, Example("trap"));
  JobRecord job =
      WaitDone(a, SubmitSplit(a, split.chunk_module, {Put(a, "a\nb\nc\n")}, split, {}, "local").id);
  ASSERT_EQ(job.state, job::JobState::kFailed);
  ASSERT_OK_AND_ASSIGN(SplitStatus status, a.splits().Status(job.id));
  ASSERT_EQ(status.chunks.size(), 3u);
  // Every chunk traps, and a slot is free again as soon as a run returns, so the next chunk may
  // start (and fail first) while the one before is being recorded: the reason names whichever
  // failure the coordinator saw first, by index and job, and that chunk did fail.
  int named = 0;
  for (const ChunkStatus& c : status.chunks) {
    if (!absl::StrContains(job.reason, absl::StrCat("chunk ", c.index, " (job ", c.job_id, ")")))
      continue;
    ++named;
    ASSERT_OK_AND_ASSIGN(JobRecord chunk, a.compute().Get(c.job_id));
    EXPECT_EQ(chunk.state, job::JobState::kFailed) << "chunk " << c.index;
  }
  EXPECT_EQ(named, 1) << job.reason;
  EXPECT_THAT(job.reason, HasSubstr("exited with status 2"));
  EXPECT_TRUE(WaitFor([&] {
    for (const ChunkStatus& c : status.chunks) {
      absl::StatusOr<JobRecord> chunk = a.compute().Get(c.job_id);
      if (!chunk.ok() || !job::IsTerminal(chunk->state)) return false;
    }
    return true;
  }));
  EXPECT_EQ(a.splits().Proof(job.id, 0).status().code(), absl::StatusCode::kFailedPrecondition);
}

// A spec built in process (the node's own API, not parsed from JSON) is held to the parser's
// rules at submission: a split into 0 parts is refused there, with the reason, rather than
// stored as a job that can never be read back (which waited queued forever).
TEST_F(SplitTest, ASplitSpecTheParserWouldRefuseIsRefusedAtSubmission) {
  Node& a = Add();
  job::SplitSpec split;
  split.splitter.kind = job::Splitter::kLines;
  split.splitter.parts = 0;
  SubmitRequest r;
  r.spec.module = Put(a, Example("noop"));
  r.spec.inputs = {Put(a, "a\nb\n")};
  r.spec.split = split;
  absl::StatusOr<SubmitResult> submitted = a.compute().Submit(r);
  ASSERT_FALSE(submitted.ok());
  EXPECT_EQ(submitted.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(submitted.status().message(), HasSubstr("parts"));
  EXPECT_THAT(submitted.status().message(), HasSubstr("must be an integer in 1.."));
  // The same spec with a valid count runs.
  r.spec.split->splitter.parts = 2;
  ASSERT_OK_AND_ASSIGN(SubmitResult ok, a.compute().Submit(r));
  EXPECT_EQ(WaitDone(a, ok.job.id).state, job::JobState::kSucceeded);
}

TEST_F(SplitTest, CancellingASplitJobCancelsItsChunks) {
  Node& a = Add([](NodeConfig& c) { c.max_concurrent = 1; });
  job::SplitSpec split;
  split.splitter.kind = job::Splitter::kLines;
  split.splitter.parts = 4;
  split.chunk_module = Put(a, Example("loop"));
  JobRecord job = SubmitSplit(a, split.chunk_module, {Put(a, "1\n2\n3\n4\n")}, split, {}, "local");
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<SplitStatus> s = a.splits().Status(job.id);
    return s.ok() && s->stage == "running";
  }));
  ASSERT_OK_AND_ASSIGN(SplitStatus status, a.splits().Status(job.id));
  ASSERT_OK(a.compute().Cancel(job.id).status());
  job = WaitDone(a, job.id);
  EXPECT_EQ(job.state, job::JobState::kCancelled);
  EXPECT_TRUE(WaitFor([&] {
    for (const ChunkStatus& c : status.chunks) {
      absl::StatusOr<JobRecord> chunk = a.compute().Get(c.job_id);
      if (!chunk.ok() || chunk->state != job::JobState::kCancelled) return false;
    }
    return true;
  }));
}

// Chunk outputs are merged as they come: a split job cancelled after some chunks ended has a
// merged blob half written, which goes with it (no temp file left, nothing stored).
TEST_F(SplitTest, CancellingASplitJobPartWayLeavesNoHalfMergedOutput) {
  Node& a = Add([](NodeConfig& c) { c.max_concurrent = 1; });
  constexpr uint32_t kN = 160;
  const std::string id = SubmitLocalMatmul(a, kN, 5, 40);  // 4 chunks
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<SplitStatus> s = a.splits().Status(id);
    return s.ok() && s->done >= 1;
  }));
  ASSERT_OK_AND_ASSIGN(SplitStatus before, a.splits().Status(id));
  ASSERT_LT(before.done, 4u) << "the job ended before the cancel; make its chunks longer";
  const uint64_t stored = a.blobs().used_bytes();
  ASSERT_OK(a.compute().Cancel(id).status());
  EXPECT_EQ(WaitDone(a, id).state, job::JobState::kCancelled);
  const std::filesystem::path tmp = DataDir{members_[0]->dir}.store_dir() / "tmp";
  EXPECT_TRUE(WaitFor([&] { return std::filesystem::is_empty(tmp); }))
      << "a half-merged output was left in " << tmp;
  // What was stored since is at most the outputs of the chunks that were still running.
  EXPECT_LE(a.blobs().used_bytes(), stored + 2 * 40 * kN * 8);
}

TEST_F(SplitTest, ARestartedNodeFinishesItsSplitJobWithTheSameChunks) {
  Node* a = &Add([](NodeConfig& c) { c.max_concurrent = 1; });
  job::SplitSpec split;
  split.splitter.kind = job::Splitter::kLines;
  split.splitter.parts = 6;
  split.chunk_module = Put(*a, Example("progress"));
  const std::string id = SubmitSplit(*a, split.chunk_module, {Put(*a, "1\n2\n3\n4\n5\n6\n")}, split,
                                     {"300000"}, "local")
                             .id;
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<SplitStatus> s = a->splits().Status(id);
    return s.ok() && s->done >= 2;
  }));
  ASSERT_OK_AND_ASSIGN(SplitStatus before, a->splits().Status(id));
  ASSERT_LT(before.done, 6u) << "the job ended before the restart; make its chunks longer";
  Stop(0);
  ASSERT_NO_FATAL_FAILURE(StartAgain(0));
  a = members_[0]->node.get();

  JobRecord job = WaitDone(*a, id);
  ASSERT_EQ(job.state, job::JobState::kSucceeded) << job.reason;
  ASSERT_OK_AND_ASSIGN(SplitStatus after, a->splits().Status(id));
  ASSERT_EQ(after.chunks.size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(after.chunks[i].job_id, before.chunks[i].job_id);
  const std::vector<std::string> lines = absl::StrSplit(Output(*a, job), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 6u);
  for (const std::string& line : lines) EXPECT_EQ(line, lines[0]);
  // One split block: the restart found the chunks it had made instead of making new ones.
  const std::vector<std::string> phases = Phases(*a, id);
  EXPECT_EQ(std::count(phases.begin(), phases.end(), "split"), 1);
}

// A chunk output damaged on disk (here while the node was down) is found by the merge, which
// reads every output verified: the job fails naming the damaged blob, and leaves no half-written
// merged output behind.
TEST_F(SplitTest, AChunkOutputDamagedOnDiskFailsTheMergeNamingIt) {
  Node* a = &Add([](NodeConfig& c) { c.max_concurrent = 1; });
  const std::string id = SubmitLocalMatmul(*a, 160, 11, 40);  // 4 chunks
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<SplitStatus> s = a->splits().Status(id);
    return s.ok() && s->done >= 1;
  }));
  ASSERT_OK_AND_ASSIGN(SplitStatus before, a->splits().Status(id));
  ASSERT_LT(before.done, 4u) << "the job ended before the restart; make its chunks longer";
  const std::string damaged = before.chunks[0].output_cid;
  ASSERT_FALSE(damaged.empty());
  Stop(0);
  const std::filesystem::path store = DataDir{members_[0]->dir}.store_dir();
  bool found = false;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(store)) {
    if (entry.path().filename() != damaged) continue;
    std::filesystem::permissions(entry.path(), std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::add);
    std::fstream file(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    char first = 0;
    file.read(&first, 1);
    file.seekp(0);
    first = static_cast<char>(first ^ 0x5a);
    file.write(&first, 1);
    found = true;
  }
  ASSERT_TRUE(found) << "chunk 0's output " << damaged << " is not under " << store;
  ASSERT_NO_FATAL_FAILURE(StartAgain(0));
  a = members_[0]->node.get();

  const JobRecord job = WaitDone(*a, id);
  EXPECT_EQ(job.state, job::JobState::kFailed);
  EXPECT_THAT(job.reason, HasSubstr("the chunk outputs could not be merged"));
  EXPECT_THAT(job.reason, HasSubstr(damaged));
  EXPECT_THAT(job.reason, HasSubstr("corrupted on disk"));
  EXPECT_TRUE(job.output_cid.empty());
  EXPECT_TRUE(std::filesystem::is_empty(store / "tmp")) << "a merge left its temp file";
}

TEST_F(SplitTest, CreditsThatRunOutPartWayFailTheJobAndCancelTheChunksMadeSoFar) {
  // Enough credit to escrow two chunks (10,000 + the fee each), not four.
  Node& a = Add([](NodeConfig& c) { c.trust.regen.cap = 25000; });
  Add();
  WaitForMesh();
  job::SplitSpec split;
  split.splitter.kind = job::Splitter::kLines;
  split.splitter.parts = 4;
  split.chunk_module = Put(a, Example("progress"));
  JobRecord job = WaitDone(
      a, SubmitSplit(a, split.chunk_module, {Put(a, "1\n2\n3\n4\n")}, split, {"3000000"}).id);
  ASSERT_EQ(job.state, job::JobState::kFailed);
  EXPECT_THAT(job.reason, HasSubstr("chunk 2 of 4"));
  EXPECT_THAT(job.reason, HasSubstr("insufficient credit"));
  // The two chunks made before the credit ran out are cancelled and their escrow returned.
  const std::string submitter = a.key().did().ToString();
  EXPECT_TRUE(WaitFor([&] {
    absl::StatusOr<ledger::Balance> b = a.settlement().ledger().BalanceOf(submitter);
    return b.ok() && b->held == 0;
  })) << "credits are still held for cancelled chunks";
  ASSERT_OK_AND_ASSIGN(std::vector<JobRecord> all, a.compute().List({}, 100));
  int chunks = 0;
  for (const JobRecord& j : all) {
    if (!j.spec.labels.contains(std::string(kSplitJobLabel))) continue;
    ++chunks;
    EXPECT_TRUE(WaitFor([&] {
      absl::StatusOr<JobRecord> c = a.compute().Get(j.id);
      return c.ok() && c->state == job::JobState::kCancelled;
    })) << j.id;
  }
  EXPECT_EQ(chunks, 2);
}

TEST_F(SplitTest, ASplitJobWithoutAnInputIsRefusedWithTheReason) {
  Node& a = Add();
  job::SplitSpec split;
  split.splitter.kind = job::Splitter::kLines;
  JobRecord job =
      WaitDone(a, SubmitSplit(a, Put(a, Example("wordcount")), {}, split, {}, "local").id);
  ASSERT_EQ(job.state, job::JobState::kFailed);
  EXPECT_THAT(job.reason, HasSubstr("needs an input"));
}

}  // namespace
}  // namespace mesh::node
