// ShardHolder and StoreDb without a network: the fetch is a function that copies from an
// "owner" blob store (or fails, or lies), so quotas, refusals and releases are checked exactly.
#include "mesh/node/shard_holder.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "mesh/common/check.h"
#include "mesh/common/clock.h"
#include "mesh/common/testing.h"

namespace mesh::node {
namespace {

constexpr char kOwner[] = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
constexpr char kOther[] = "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG";
const std::string kFile = cas::Cid::Of("manifest", cas::Codec::kDagJson).ToString();

class ShardHolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(db_, StoreDb::Open(tmp_.path() / "storage.db"));
    ASSERT_OK_AND_ASSIGN(blobs_, cas::BlobStore::Open({.root = tmp_.path() / "store"}, clock_));
    ASSERT_OK_AND_ASSIGN(owner_blobs_,
                         cas::BlobStore::Open({.root = tmp_.path() / "owner"}, clock_));
    Make(1000);
  }
  void Make(uint64_t quota) {
    holder_.reset();
    ASSERT_OK_AND_ASSIGN(
        holder_, ShardHolder::Create({.quota_bytes = quota, .max_concurrent_stores = 1},
                                     "did:key:self", db_.get(), blobs_.get(), &clock_,
                                     [this](const std::string& did, const std::string& address,
                                            const std::string& cid, uint64_t bytes) {
                                       return Fetch(did, address, cid, bytes);
                                     }));
  }
  absl::Status Fetch(const std::string& did, const std::string& address, const std::string& cid,
                     uint64_t bytes) {
    ++fetches_;
    EXPECT_EQ(did, kOwner);
    EXPECT_EQ(address, "10.0.0.1:7421");
    if (fail_fetch_) return absl::UnavailableError("owner gone");
    MESH_ASSIGN_OR_RETURN(cas::Cid parsed, cas::Cid::Parse(cid));
    MESH_ASSIGN_OR_RETURN(std::string data, owner_blobs_->Get(parsed));
    if (data.size() > bytes) return absl::ResourceExhaustedError("larger than declared");
    return blobs_->PutBytes(data).status();
  }
  job::ShardRef Shard(const std::string& data) {
    absl::StatusOr<cas::Cid> cid = owner_blobs_->PutBytes(data);
    MESH_CHECK(cid.ok());
    return {cid->ToString(), data.size()};
  }
  job::StoreShards Request(std::vector<job::ShardRef> shards, std::string file = kFile) {
    return {{}, kOwner, "10.0.0.1:7421", std::move(file), std::move(shards)};
  }
  bool Has(const std::string& cid) {
    absl::StatusOr<bool> has = blobs_->Has(*cas::Cid::Parse(cid));
    return has.ok() && *has;
  }

  ScopedTempDir tmp_;
  SystemClock clock_;
  std::unique_ptr<StoreDb> db_;
  std::unique_ptr<cas::BlobStore> blobs_;
  std::unique_ptr<cas::BlobStore> owner_blobs_;
  std::unique_ptr<ShardHolder> holder_;
  int fetches_ = 0;
  bool fail_fetch_ = false;
};

TEST_F(ShardHolderTest, HoldsWithinTheQuotaAndAnswersARetryAtOnce) {
  const job::ShardRef a = Shard(std::string(300, 'a'));
  const job::ShardRef b = Shard(std::string(400, 'b'));
  ASSERT_OK_AND_ASSIGN(job::ShardsHeld held, holder_->Store(kOwner, Request({a, b})));
  EXPECT_EQ(held.holder, "did:key:self");
  EXPECT_EQ(held.shards, (std::vector<std::string>{a.cid, b.cid}));
  EXPECT_EQ(held.free_bytes, 300u);
  EXPECT_EQ(holder_->held_bytes(), 700u);
  EXPECT_TRUE(Has(a.cid) && Has(b.cid));
  // The same request again: nothing fetched, nothing counted twice.
  ASSERT_OK(holder_->Store(kOwner, Request({a, b})).status());
  EXPECT_EQ(fetches_, 2);
  EXPECT_EQ(holder_->held_bytes(), 700u);
  // The count survives a restart (read back from storage.db).
  Make(1000);
  EXPECT_EQ(holder_->held_bytes(), 700u);
  EXPECT_EQ(holder_->free_bytes(), 300u);
}

TEST_F(ShardHolderTest, OverTheQuotaIsRefusedBeforeAnythingIsFetched) {
  const job::ShardRef big = Shard(std::string(1001, 'x'));
  absl::Status s = holder_->Store(kOwner, Request({big})).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("over this node's storage quota"), std::string::npos) << s;
  EXPECT_EQ(fetches_, 0);
  EXPECT_EQ(holder_->held_bytes(), 0u);
}

TEST_F(ShardHolderTest, LiesAndFailuresLeaveNothingBehind) {
  const job::ShardRef good = Shard(std::string(100, 'g'));
  job::ShardRef short_declared = Shard(std::string(200, 's'));
  short_declared.bytes = 150;  // the blob is larger than the owner said
  absl::Status lie = holder_->Store(kOwner, Request({good, short_declared})).status();
  EXPECT_FALSE(lie.ok());
  EXPECT_NE(lie.message().find(short_declared.cid), std::string::npos) << lie;
  EXPECT_FALSE(Has(good.cid)) << "the shard fetched before the lie is deleted";
  EXPECT_EQ(holder_->held_bytes(), 0u);
  EXPECT_EQ(holder_->free_bytes(), 1000u) << "the reservation is released";

  job::ShardRef zero = good;
  zero.bytes = 0;
  EXPECT_EQ(holder_->Store(kOwner, Request({zero})).status().code(),
            absl::StatusCode::kInvalidArgument);

  fail_fetch_ = true;
  absl::Status gone = holder_->Store(kOwner, Request({good})).status();
  EXPECT_EQ(gone.code(), absl::StatusCode::kUnavailable) << gone;
  EXPECT_EQ(holder_->held_bytes(), 0u);
}

TEST_F(ShardHolderTest, OnlyTheOwnerStoresOrDrops) {
  const job::ShardRef a = Shard("abc");
  EXPECT_EQ(holder_->Store(kOther, Request({a})).status().code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_OK(holder_->Store(kOwner, Request({a})).status());
  // Another node can only drop what is held for it: nothing here.
  job::DropShards drop{{}, kOther, kFile, {}};
  ASSERT_OK_AND_ASSIGN(job::ShardsHeld others, holder_->Drop(kOther, drop));
  EXPECT_TRUE(others.shards.empty());
  // Signed by the other node but naming the owner: refused.
  drop.owner = kOwner;
  EXPECT_EQ(holder_->Drop(kOther, drop).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Has(a.cid));
}

TEST_F(ShardHolderTest, DroppingReleasesRoomAndDeletesOnlyBlobsNobodyNeeds) {
  const job::ShardRef a = Shard(std::string(100, 'a'));
  const job::ShardRef b = Shard(std::string(100, 'b'));
  // The node's own blob that happens to be a shard too: never deleted by a drop.
  const job::ShardRef own = Shard(std::string(100, 'o'));
  ASSERT_OK(blobs_->PutBytes(std::string(100, 'o')).status());
  ASSERT_OK(holder_->Store(kOwner, Request({a, b, own})).status());
  // Shard a is held for a second file too.
  const std::string file2 = cas::Cid::Of("manifest 2", cas::Codec::kDagJson).ToString();
  ASSERT_OK(holder_->Store(kOwner, Request({a}, file2)).status());
  EXPECT_EQ(holder_->held_bytes(), 400u);

  ASSERT_OK_AND_ASSIGN(job::ShardsHeld left,
                       holder_->Drop(kOwner, job::DropShards{{}, kOwner, kFile, {b.cid}}));
  EXPECT_EQ(left.shards.size(), 2u);  // a and own, of this file
  EXPECT_FALSE(Has(b.cid));
  EXPECT_EQ(holder_->held_bytes(), 300u);

  ASSERT_OK_AND_ASSIGN(left, holder_->Drop(kOwner, job::DropShards{{}, kOwner, kFile, {}}));
  EXPECT_TRUE(left.shards.empty());
  EXPECT_TRUE(Has(a.cid)) << "still held for the second file";
  EXPECT_TRUE(Has(own.cid)) << "the node's own blob";
  EXPECT_EQ(holder_->held_bytes(), 100u);
  ASSERT_OK(holder_->Drop(kOwner, job::DropShards{{}, kOwner, file2, {}}).status());
  EXPECT_FALSE(Has(a.cid));
  EXPECT_EQ(holder_->held_bytes(), 0u);
}

TEST(StoreDbTest, FilesAndTheirHoldersRoundTrip) {
  ScopedTempDir tmp;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<StoreDb> db, StoreDb::Open(tmp.path() / "s.db"));
  StoredFileRecord f;
  f.cid = "bagu-1";
  f.name = "a.bin";
  f.user = kOwner;
  f.size = 12345;
  f.k = 2;
  f.m = 1;
  f.segments = 3;
  f.stored_bytes = 20000;
  f.created = absl::FromUnixMillis(1'700'000'000'000);
  f.holders = {{0, "did:a", "a:1"}, {1, "did:b", "b:1"}, {2, "did:c", "c:1"}};
  ASSERT_OK(db->AddFile(f));
  StoredFileRecord g = f;
  g.cid = "bagu-2";
  g.user = kOther;
  g.created += absl::Seconds(1);
  g.holders.clear();
  ASSERT_OK(db->AddFile(g));
  ASSERT_OK_AND_ASSIGN(std::optional<StoredFileRecord> back, db->File("bagu-1"));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->name, "a.bin");
  EXPECT_EQ(back->size, 12345u);
  EXPECT_EQ(back->created, f.created);
  ASSERT_EQ(back->holders.size(), 3u);
  EXPECT_EQ(back->holders[2].did, "did:c");
  ASSERT_OK_AND_ASSIGN(std::vector<StoredFileRecord> all, db->Files("", 10));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].cid, "bagu-2") << "newest first";
  ASSERT_OK_AND_ASSIGN(std::vector<StoredFileRecord> mine, db->Files(kOwner, 10));
  ASSERT_EQ(mine.size(), 1u);
  ASSERT_OK(db->RemoveFile("bagu-1"));
  ASSERT_OK_AND_ASSIGN(back, db->File("bagu-1"));
  EXPECT_FALSE(back.has_value());
}

// Held shards are served to peers as stored, from an offset; anything else is not served here
// (the node's own blobs go through the blob store's verifying reader instead).
TEST_F(ShardHolderTest, OpensHeldShardsForPeersAndNothingElse) {
  const job::ShardRef a = Shard(std::string(300, 'a'));
  ASSERT_OK(holder_->Store(kOwner, Request({a})).status());
  auto read_all = [](cas::ByteSource& source) {
    std::string out(1000, '\0');
    absl::StatusOr<size_t> n = source.Read(out.data(), out.size());
    out.resize(n.ok() ? *n : 0);
    return out;
  };
  ASSERT_OK_AND_ASSIGN(auto held, holder_->OpenHeld(*cas::Cid::Parse(a.cid), 100));
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(read_all(**held), std::string(200, 'a'));
  EXPECT_EQ(holder_->OpenHeld(*cas::Cid::Parse(a.cid), 301).status().code(),
            absl::StatusCode::kOutOfRange);
  ASSERT_OK_AND_ASSIGN(cas::Cid own, blobs_->PutBytes("the node's own blob"));
  ASSERT_OK_AND_ASSIGN(auto not_held, holder_->OpenHeld(own, 0));
  EXPECT_FALSE(not_held.has_value());
  ASSERT_OK(holder_->Drop(kOwner, {{}, kOwner, kFile, {}}).status());
  ASSERT_OK_AND_ASSIGN(auto dropped, holder_->OpenHeld(*cas::Cid::Parse(a.cid), 0));
  EXPECT_FALSE(dropped.has_value());
}

}  // namespace
}  // namespace mesh::node
