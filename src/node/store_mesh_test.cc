// Stored files across an in-process mesh (gRPC with mutual TLS on loopback): a file is placed
// on k+m distinct peers and read back byte for byte; lost and damaged holders are survived up to
// m; too few peers, full quotas and removal behave as a user expects.
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "mesh/cas/byte_source.h"
#include "mesh/common/check.h"
#include "mesh/common/rng.h"
#include "mesh/node/file_store.h"
#include "mesh/storage/store_manifest.h"
#include "mesh_test_fixture.h"

namespace mesh::node {
namespace {

using meshtest::MeshTest;
using meshtest::WaitFor;

class StoreMeshTest : public MeshTest {
 protected:
  // Small segments, so a few hundred KiB make several stripes; wide views, so every node hears
  // every other.
  static void Tweak(NodeConfig& c) {
    c.store.segment_bytes = 64 << 10;
    c.store.inline_max_bytes = 4 << 10;
    c.mesh.active_view = 8;
    c.mesh.fetch_timeout = absl::Seconds(10);
  }
  void StartMesh(size_t n, const std::function<void(size_t, NodeConfig&)>& more = {}) {
    for (size_t i = 0; i < n; ++i) {
      Add([&](NodeConfig& c) {
        Tweak(c);
        if (more) more(i, c);
      });
    }
    WaitForMesh();
    // Every heartbeat carries the room each holder offers; wait until the owner has heard them.
    ASSERT_TRUE(WaitFor([&] {
      for (const storage::HolderCandidate& c : node(0).mesh()->HolderCandidates()) {
        if (!c.alive || !c.free_bytes.has_value()) return false;
      }
      return node(0).mesh()->HolderCandidates().size() == n - 1;
    }));
  }

  static std::string Bytes(size_t n, uint64_t seed) { return SeededRng(seed).Bytes(n); }

  absl::StatusOr<StoredFileRecord> PutBytes(Node& n, const std::string& data, PutRequest r = {}) {
    cas::StringSource source(data);
    return n.files().Put(source, r);
  }

  absl::StatusOr<std::string> GetBytes(Node& n, const std::string& cid, GetStats* stats = nullptr) {
    std::string out;
    absl::StatusOr<GetStats> got = n.files().Get(cid, [&out](std::string_view b) {
      out.append(b);
      return absl::OkStatus();
    });
    if (!got.ok()) return got.status();
    if (stats != nullptr) *stats = *got;
    return out;
  }

  size_t IndexOf(const std::string& did) {
    for (size_t i = 0; i < members_.size(); ++i) {
      if (node(i).key().did().ToString() == did) return i;
    }
    return members_.size();
  }
};

TEST_F(StoreMeshTest, AFileIsSpreadOverKPlusMPeersAndSurvivesLosingM) {
  StartMesh(7);
  const std::string data = Bytes(300 << 10, 7);  // 5 segments of 64 KiB (the last short)
  ASSERT_OK_AND_ASSIGN(StoredFileRecord file, PutBytes(node(0), data, {.name = "data.bin"}));
  EXPECT_EQ(file.k, 4);
  EXPECT_EQ(file.m, 2);
  EXPECT_EQ(file.size, data.size());
  EXPECT_EQ(file.segments, 5u);
  ASSERT_EQ(file.holders.size(), 6u);
  std::set<std::string> holders;
  for (const ShardPlacement& h : file.holders) holders.insert(h.did);
  EXPECT_EQ(holders.size(), 6u) << "one shard index per peer";
  EXPECT_FALSE(holders.contains(node(0).key().did().ToString()));
  // The owner keeps the manifest only; each holder holds its shard of every segment.
  EXPECT_LT(node(0).blobs().used_bytes(), 16u << 10);
  for (size_t i = 1; i < 7; ++i) {
    EXPECT_EQ(node(i).holder()->held_bytes(), file.stored_bytes / 6) << "node " << i;
  }

  GetStats stats;
  ASSERT_OK_AND_ASSIGN(std::string back, GetBytes(node(0), file.cid, &stats));
  EXPECT_TRUE(back == data);
  EXPECT_EQ(stats.open.segments, 5u);
  EXPECT_EQ(stats.fetches_failed, 0u);

  // Two holders gone (m = 2): every segment still rebuilds from the other four.
  const size_t gone1 = IndexOf(file.holders[0].did);
  const size_t gone2 = IndexOf(file.holders[5].did);
  node(gone1).Drain(absl::ZeroDuration());
  node(gone2).Drain(absl::ZeroDuration());
  ASSERT_OK_AND_ASSIGN(back, GetBytes(node(0), file.cid, &stats));
  EXPECT_TRUE(back == data);
  EXPECT_GE(stats.open.shards_rebuilt, 5u) << "data shard 0 of every segment was rebuilt";
  EXPECT_GE(stats.shards_fetched, 20u);

  // A third (m + 1): the file cannot be read, and the error says which segment and why.
  node(IndexOf(file.holders[1].did)).Drain(absl::ZeroDuration());
  absl::StatusOr<std::string> lost = GetBytes(node(0), file.cid);
  ASSERT_FALSE(lost.ok());
  EXPECT_NE(lost.status().message().find("segment 0"), std::string::npos) << lost.status();
}

TEST_F(StoreMeshTest, ADamagedShardIsCaughtAndAnotherHolderAsked) {
  StartMesh(7);
  const std::string data = Bytes(200 << 10, 9);  // 4 segments
  ASSERT_OK_AND_ASSIGN(StoredFileRecord file,
                       PutBytes(node(0), data, {.k = 2, .m = 1, .encrypt = false}));
  ASSERT_EQ(file.holders.size(), 3u);
  ASSERT_OK_AND_ASSIGN(std::string manifest_bytes, node(0).blobs().Get(*cas::Cid::Parse(file.cid)));
  ASSERT_OK_AND_ASSIGN(storage::StoreManifest manifest,
                       storage::ParseStoreManifest(manifest_bytes));
  // Holder i's shard of segment i is damaged on its disk: whichever two holders a get asks
  // first, at least two of the first three segments meet a damaged shard.
  for (int i = 0; i < 3; ++i) {
    Node& holder = node(IndexOf(file.holders[i].did));
    const std::string cid = manifest.segments[i].shards[i].ToString();
    bool found = false;
    for (const auto& e : std::filesystem::recursive_directory_iterator(holder.blobs().root())) {
      if (e.path().filename().string() != cid) continue;
      std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(10);
      f.put('\x5a');
      found = true;
    }
    ASSERT_TRUE(found) << cid;
  }
  GetStats stats;
  ASSERT_OK_AND_ASSIGN(std::string back, GetBytes(node(0), file.cid, &stats));
  EXPECT_TRUE(back == data);
  // A segment whose first two fetches include its damaged shard ends only with the third
  // holder's shard, asked when the damaged one failed or, on a loaded machine, by a hedge
  // before it answered (its failure then goes uncounted): one or the other, twice at least.
  EXPECT_GE(stats.fetches_failed + stats.hedges, 2u)
      << stats.fetches_failed << " failed, " << stats.hedges << " hedges";
}

TEST_F(StoreMeshTest, TooFewPeersIsRefusedSayingHowManyAreMissing) {
  StartMesh(3);
  absl::StatusOr<StoredFileRecord> put = PutBytes(node(0), Bytes(200 << 10, 1));
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(put.status().message().find("needs 6 peers"), std::string::npos) << put.status();
  EXPECT_NE(put.status().message().find("(4 missing)"), std::string::npos) << put.status();
  // Nothing was left behind: no shard staged on the owner, none held anywhere.
  EXPECT_LT(node(0).blobs().used_bytes(), 1u << 10);
  EXPECT_EQ(node(1).holder()->held_bytes(), 0u);
  ASSERT_OK_AND_ASSIGN(std::vector<StoredFileRecord> files, node(0).files().List("", 10));
  EXPECT_TRUE(files.empty());

  // A small file lives in its manifest: no peers needed.
  const std::string small = Bytes(1000, 2);
  ASSERT_OK_AND_ASSIGN(StoredFileRecord inline_file, PutBytes(node(0), small));
  EXPECT_EQ(inline_file.k, 0);
  EXPECT_TRUE(inline_file.holders.empty());
  ASSERT_OK_AND_ASSIGN(std::string back, GetBytes(node(0), inline_file.cid));
  EXPECT_EQ(back, small);
}

TEST_F(StoreMeshTest, AFullHolderIsPassedOverAndNamedWhenNoOneHasRoom) {
  // Node 1 holds nothing for others: the 2+1 file goes to the other three.
  StartMesh(5, [](size_t i, NodeConfig& c) {
    if (i == 1) c.hold_quota_bytes = 0;
  });
  const std::string data = Bytes(150 << 10, 3);
  ASSERT_OK_AND_ASSIGN(StoredFileRecord file, PutBytes(node(0), data, {.k = 2, .m = 1}));
  for (const ShardPlacement& h : file.holders) {
    EXPECT_NE(h.did, node(1).key().did().ToString());
  }
  // 3+1 needs four holders; only three have room. The refusal names the full one.
  absl::StatusOr<StoredFileRecord> put = PutBytes(node(0), data, {.k = 3, .m = 1});
  ASSERT_FALSE(put.ok());
  EXPECT_NE(put.status().message().find(node(1).key().did().ToString() + ": offers 0 B"),
            std::string::npos)
      << put.status();
}

TEST_F(StoreMeshTest, RemovingAFileReleasesEveryHolder) {
  StartMesh(4);
  ASSERT_OK_AND_ASSIGN(StoredFileRecord file,
                       PutBytes(node(0), Bytes(200 << 10, 4), {.k = 2, .m = 1}));
  uint64_t held = 0;
  for (size_t i = 1; i < 4; ++i) held += node(i).holder()->held_bytes();
  EXPECT_EQ(held, file.stored_bytes);
  ASSERT_OK_AND_ASSIGN(RemoveResult removed, node(0).files().Remove(file.cid));
  EXPECT_EQ(removed.holders_told, 3u);
  EXPECT_TRUE(removed.holders_unreachable.empty());
  for (size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(node(i).holder()->held_bytes(), 0u);
    EXPECT_LT(node(i).blobs().used_bytes(), 1u << 10) << "the shards were deleted";
  }
  EXPECT_TRUE(absl::IsNotFound(node(0).files().Stat(file.cid).status()));
  EXPECT_TRUE(absl::IsNotFound(GetBytes(node(0), file.cid).status()));
}

// Upkeep with short timings: holders audited every 100 ms, lost after 3 failed audits.
// Issue 19, part 4: a job whose input is a stored file. Its owner reads it with its own key;
// delegated, the file key goes sealed to the one executor the market picked, which fetches the
// shards from the holders, runs the job and forgets the key. Nobody else can open it.
TEST_F(StoreMeshTest, AJobReadsAStoredFileOnItsOwnerOrThroughAKeyGrantedToItsExecutor) {
  StartMesh(7);
  const std::string data = Bytes(200 << 10, 11);  // 4 segments of 64 KiB (the last short)
  ASSERT_OK_AND_ASSIGN(StoredFileRecord file, PutBytes(node(0), data));
  const std::string echo = Put(node(0), meshtest::Example("echo"));
  const std::string tail = Put(node(0), "<tail>");

  JobRecord local = WaitDone(node(0), Submit(node(0), echo, {file.cid, tail}, "local").id);
  ASSERT_EQ(local.state, job::JobState::kSucceeded) << local.reason;
  EXPECT_TRUE(Output(node(0), local) == data + "<tail>") << "stdin is the file's plain bytes";

  JobRecord remote = WaitDone(node(0), Submit(node(0), echo, {file.cid, tail}, "remote").id);
  ASSERT_EQ(remote.state, job::JobState::kSucceeded) << remote.reason;
  EXPECT_TRUE(Output(node(0), remote) == data + "<tail>");
  const size_t executor = IndexOf(remote.peer);
  ASSERT_LT(executor, members_.size());
  ASSERT_NE(executor, 0u);
  // The executor kept neither the plain bytes nor the key once the job ended.
  EXPECT_FALSE(*node(executor).blobs().Has(cas::Cid::Of(data)));
  absl::StatusOr<std::optional<std::string>> after =
      node(executor).stored_inputs().Read(remote.id, file.cid, 1 << 30);
  EXPECT_EQ(after.status().code(), absl::StatusCode::kFailedPrecondition) << after.status();
  EXPECT_NE(after.status().message().find("no key for it was granted"), std::string::npos);

  // A grant opens for the executor it names, and for no one else.
  const std::string job_id = "job-reading-a-stored-file";
  node(0).stored_inputs().Register(job_id, {echo, file.cid});
  ASSERT_OK_AND_ASSIGN(std::vector<job::KeyGrant> grants,
                       node(0).stored_inputs().GrantsFor(job_id, node(1).key().did().ToString()));
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_EQ(grants[0].file, file.cid);
  EXPECT_EQ(grants[0].holders.size(), 6u);
  EXPECT_TRUE(node(1).key().OpenSealed(grants[0].sealed_key).ok());
  EXPECT_FALSE(node(2).key().OpenSealed(grants[0].sealed_key).ok());
  // The manifest travels like any input blob (the executor fetches it from the submitter).
  ASSERT_OK_AND_ASSIGN(cas::Cid manifest_cid, cas::Cid::Parse(file.cid));
  ASSERT_OK_AND_ASSIGN(std::string manifest, node(0).blobs().Get(manifest_cid));
  for (size_t i : {1, 2}) ASSERT_OK(node(i).blobs().PutBytes(manifest, cas::Codec::kDagJson));
  node(1).stored_inputs().Accept(job_id, grants);
  ASSERT_OK_AND_ASSIGN(std::optional<std::string> read,
                       node(1).stored_inputs().Read(job_id, file.cid, 1 << 30));
  ASSERT_TRUE(read.has_value());
  EXPECT_TRUE(*read == data);
  absl::StatusOr<std::optional<std::string>> small =
      node(1).stored_inputs().Read(job_id, file.cid, data.size() - 1);
  EXPECT_EQ(small.status().code(), absl::StatusCode::kResourceExhausted) << small.status();
  // Node 2 handed node 1's grant (a stolen Assignment) cannot open it.
  node(2).stored_inputs().Accept(job_id, grants);
  absl::StatusOr<std::optional<std::string>> stolen =
      node(2).stored_inputs().Read(job_id, file.cid, 1 << 30);
  EXPECT_EQ(stolen.status().code(), absl::StatusCode::kPermissionDenied) << stolen.status();
  // An ordinary blob is not a stored file; the job's grants go with it.
  ASSERT_OK_AND_ASSIGN(std::optional<std::string> plain,
                       node(1).stored_inputs().Read(job_id, tail, 1 << 30));
  EXPECT_FALSE(plain.has_value());
  node(1).stored_inputs().Forget(job_id);
  EXPECT_FALSE(node(1).stored_inputs().Read(job_id, file.cid, 1 << 30).ok());
}

// A split over a stored file's segments: one chunk per segment, each delegated with a grant and
// reading only its own segment's shards; the merged output is the file.
TEST_F(StoreMeshTest, ASplitOverAStoredFilesSegmentsRunsOneChunkPerSegment) {
  StartMesh(7);
  const std::string data = Bytes(200 << 10, 13);  // 4 segments of 64 KiB (the last short)
  ASSERT_OK_AND_ASSIGN(StoredFileRecord file, PutBytes(node(0), data));
  const std::string echo = Put(node(0), meshtest::Example("echo"));
  job::SplitSpec split;
  split.splitter.kind = job::Splitter::kSegments;
  JobRecord job = WaitDone(
      node(0),
      Submit(node(0), echo, {file.cid}, "remote", {}, [&](job::JobSpec& s) { s.split = split; }).id,
      absl::Seconds(120));
  ASSERT_EQ(job.state, job::JobState::kSucceeded) << job.reason;
  EXPECT_TRUE(Output(node(0), job) == data);
  ASSERT_OK_AND_ASSIGN(SplitStatus status, node(0).splits().Status(job.id));
  ASSERT_EQ(status.chunks.size(), 4u);
  for (const ChunkStatus& chunk : status.chunks) {
    ASSERT_OK_AND_ASSIGN(JobRecord c, node(0).compute().Get(chunk.job_id));
    EXPECT_EQ(c.spec.inputs, std::vector<std::string>{file.cid});
    EXPECT_EQ(c.spec.segment, std::optional<uint32_t>(chunk.index));
    EXPECT_EQ(chunk.input_bytes, chunk.index < 3 ? 64u << 10 : (200u - 192u) << 10);
    EXPECT_NE(IndexOf(c.peer), 0u) << "chunk " << chunk.index << " ran elsewhere";
  }

  // A split over segments needs a stored file of this node's; a plain blob is refused.
  const std::string blob = Put(node(0), data);
  JobRecord refused = WaitDone(
      node(0),
      Submit(node(0), echo, {blob}, "remote", {}, [&](job::JobSpec& s) { s.split = split; }).id);
  EXPECT_EQ(refused.state, job::JobState::kFailed);
  EXPECT_NE(refused.reason.find("needs a file this node stored"), std::string::npos)
      << refused.reason;
}

// --store-output: once the job succeeds, its submitting node stores the output across the mesh
// and names it on the job; a code the mesh cannot place leaves the job succeeded and says why.
TEST_F(StoreMeshTest, AJobsOutputIsStoredWhenItSucceeds) {
  StartMesh(7);
  const std::string echo = Put(node(0), meshtest::Example("echo"));
  const std::string data = Bytes(150 << 10, 5);
  const std::string input = Put(node(0), data);
  auto stored_output = [&](const std::string& id) {
    std::string cid;
    WaitFor([&] {
      absl::StatusOr<JobRecord> j = node(0).compute().Get(id);
      if (j.ok()) cid = j->stored_output;
      return !cid.empty();
    });
    return cid;
  };
  JobRecord job =
      WaitDone(node(0), Submit(node(0), echo, {input}, "remote", {}, [](job::JobSpec& s) {
                          s.store_output = "3+2";
                        }).id);
  ASSERT_EQ(job.state, job::JobState::kSucceeded) << job.reason;
  const std::string cid = stored_output(job.id);
  ASSERT_FALSE(cid.empty()) << "the output was not stored";
  ASSERT_OK_AND_ASSIGN(StoredFileRecord file, node(0).files().Stat(cid));
  EXPECT_EQ(file.k, 3);
  EXPECT_EQ(file.m, 2);
  EXPECT_EQ(file.name, "output of job " + job.id);
  ASSERT_OK_AND_ASSIGN(std::string back, GetBytes(node(0), cid));
  EXPECT_TRUE(back == data);
  // The stored output is itself a job input.
  JobRecord again = WaitDone(node(0), Submit(node(0), echo, {cid}, "remote").id);
  ASSERT_EQ(again.state, job::JobState::kSucceeded) << again.reason;
  EXPECT_TRUE(Output(node(0), again) == data);

  // 8+2 needs ten peers; six exist. The job still succeeded; the event says why nothing was
  // stored.
  const uint64_t seen = node(0).events().last_seq();
  JobRecord wide =
      WaitDone(node(0), Submit(node(0), echo, {input}, "local", {}, [](job::JobSpec& s) {
                          s.store_output = "8+2";
                        }).id);
  ASSERT_EQ(wide.state, job::JobState::kSucceeded) << wide.reason;
  std::string why;
  ASSERT_TRUE(WaitFor([&] {
    for (const Event& e : node(0).events().Since(seen, wide.id).events) {
      if (e.type == "job.output_store_failed") why = e.json;
    }
    return !why.empty();
  }));
  EXPECT_NE(why.find("needs 10 peers"), std::string::npos) << why;
  ASSERT_OK_AND_ASSIGN(JobRecord after, node(0).compute().Get(wide.id));
  EXPECT_TRUE(after.stored_output.empty());
}

class StoreUpkeepTest : public StoreMeshTest {
 protected:
  void StartUpkeepMesh(size_t n, int64_t rent = 0) {
    StartMesh(n, [rent](size_t, NodeConfig& c) {
      c.rent_per_gib_hour = rent;
      c.upkeep.audit_interval = absl::Milliseconds(100);
      c.upkeep.grace = absl::Minutes(10);  // lost by failed audits in these tests, not silence
      c.mesh.send_timeout = absl::Milliseconds(500);
    });
  }
  ShardPlacement HolderOf(const std::string& cid, int index) {
    absl::StatusOr<StoredFileRecord> f = node(0).files().Stat(cid);
    MESH_CHECK(f.ok());
    return f->holders.at(index);
  }
};

TEST_F(StoreUpkeepTest, HonestHoldersPassTheirAuditsAndALostOneIsReplaced) {
  StartUpkeepMesh(5);  // the owner, three holders of a 2+1 file, one spare
  const std::string data = Bytes(200 << 10, 11);
  ASSERT_OK_AND_ASSIGN(StoredFileRecord file, PutBytes(node(0), data, {.k = 2, .m = 1}));
  // Every holder passes audits: last_ok moves past the time of the put.
  ASSERT_TRUE(WaitFor([&] {
    for (int i = 0; i < 3; ++i) {
      if (HolderOf(file.cid, i).last_ok <= file.created) return false;
    }
    return true;
  })) << "audits did not pass";

  // A holder dies: its audits go unanswered, it is lost after three, and the 2+1 file (at the
  // threshold, 2 healthy) gets shard 1 rebuilt onto the spare node.
  const std::string dead = HolderOf(file.cid, 1).did;
  node(IndexOf(dead)).Drain(absl::ZeroDuration());
  std::string spare;
  for (size_t i = 1; i < 5; ++i) {
    const std::string did = node(i).key().did().ToString();
    bool holds = false;
    for (const ShardPlacement& h : file.holders) holds |= h.did == did;
    if (!holds) spare = did;
  }
  ASSERT_FALSE(spare.empty());
  ASSERT_TRUE(WaitFor([&] { return HolderOf(file.cid, 1).did == spare; }, absl::Seconds(60)))
      << "shard 1 was not repaired onto the spare";
  EXPECT_GT(node(IndexOf(spare)).holder()->held_bytes(), 0u);
  EXPECT_GE(node(0).settlement().reputation().Get(dead).timeouts, 3);
  // The file reads back from its holders as they are now, with no shard to rebuild.
  GetStats stats;
  ASSERT_OK_AND_ASSIGN(std::string back, GetBytes(node(0), file.cid, &stats));
  EXPECT_TRUE(back == data);
  EXPECT_EQ(stats.fetches_failed, 0u);
}

TEST_F(StoreUpkeepTest, HoldersInGoodStandingArePaidRentFromTheOwner) {
  // A rent so high that ~100 KiB held earns credits within a second.
  StartUpkeepMesh(4, 1'000'000'000);
  ledger::Ledger& book = node(0).settlement().ledger();
  const std::string owner = node(0).key().did().ToString();
  ASSERT_OK_AND_ASSIGN(StoredFileRecord file,
                       PutBytes(node(0), Bytes(200 << 10, 13), {.k = 2, .m = 1}));
  // The rent each holder received, from the owner's transfers in the ledger.
  auto rent_of = [&](const std::string& did) {
    int64_t paid = 0;
    absl::StatusOr<std::vector<ledger::Entry>> entries = book.History(did, 1000);
    for (const ledger::Entry& e : entries.ok() ? *entries : std::vector<ledger::Entry>{}) {
      if (e.kind != ledger::EntryKind::kTransfer) continue;
      EXPECT_EQ(e.postings.size(), 2u);
      EXPECT_EQ(e.postings[0].account, owner) << "rent comes from the file's owner";
      EXPECT_EQ(e.postings[0].amount, -e.postings[1].amount);
      if (e.postings[1].account == did) paid += e.postings[1].amount;
    }
    return paid;
  };
  ASSERT_TRUE(WaitFor([&] {
    for (const ShardPlacement& h : file.holders) {
      if (rent_of(h.did) <= 0) return false;
    }
    return true;
  })) << "rent was not paid to every holder";
  node(0).keeper()->Stop();
  // Nobody else was paid: the owner's transfers are exactly the holders' rent.
  int64_t to_holders = 0;
  for (const ShardPlacement& h : file.holders) to_holders += rent_of(h.did);
  int64_t from_owner = 0;
  ASSERT_OK_AND_ASSIGN(std::vector<ledger::Entry> mine, book.History(owner, 1000));
  for (const ledger::Entry& e : mine) {
    if (e.kind == ledger::EntryKind::kTransfer) from_owner -= e.postings[0].amount;
  }
  EXPECT_EQ(from_owner, to_holders);
  ASSERT_OK_AND_ASSIGN(ledger::VerifyReport report, book.Verify());
  EXPECT_TRUE(report.ok) << report.problem;
}

TEST_F(StoreUpkeepTest, AHolderThatLostItsShardsFailsAuditsAndIsReplaced) {
  StartUpkeepMesh(5);
  const std::string data = Bytes(150 << 10, 12);
  ASSERT_OK_AND_ASSIGN(StoredFileRecord file, PutBytes(node(0), data, {.k = 2, .m = 1}));
  // Holder 0 stays online but throws its shards away (its book still says it holds them).
  const std::string cheat = HolderOf(file.cid, 0).did;
  Node& bad = node(IndexOf(cheat));
  size_t deleted = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(bad.blobs().root())) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name.rfind("bafk", 0) != 0) continue;
    ASSERT_OK(bad.blobs().Delete(*cas::Cid::Parse(name)));
    ++deleted;
  }
  ASSERT_GT(deleted, 0u);
  ASSERT_TRUE(WaitFor([&] { return HolderOf(file.cid, 0).did != cheat; }, absl::Seconds(60)))
      << "the cheating holder was not replaced";
  EXPECT_GE(node(0).settlement().reputation().Get(cheat).failures, 3)
      << "a failed audit costs reputation";
  ASSERT_OK_AND_ASSIGN(std::string back, GetBytes(node(0), file.cid));
  EXPECT_TRUE(back == data);
}

}  // namespace
}  // namespace mesh::node
