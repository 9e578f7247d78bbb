#include "mesh/node/shard_holder.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <utility>

#include "mesh/common/file_util.h"
#include "mesh/common/format_bytes.h"
#include "mesh/common/hex.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/sha256.h"
#include "spdlog/spdlog.h"

namespace mesh::node {

absl::StatusOr<std::unique_ptr<ShardHolder>> ShardHolder::Create(ShardHolderOptions options,
                                                                 std::string self_did, StoreDb* db,
                                                                 cas::BlobStore* blobs,
                                                                 const Clock* clock,
                                                                 FetchShard fetch) {
  MESH_ASSIGN_OR_RETURN(uint64_t held, db->HeldBytes());
  return std::unique_ptr<ShardHolder>(
      new ShardHolder(options, std::move(self_did), db, blobs, clock, std::move(fetch), held));
}

ShardHolder::ShardHolder(ShardHolderOptions options, std::string self_did, StoreDb* db,
                         cas::BlobStore* blobs, const Clock* clock, FetchShard fetch, uint64_t held)
    : options_(options),
      self_(std::move(self_did)),
      db_(db),
      blobs_(blobs),
      clock_(clock),
      fetch_(std::move(fetch)),
      held_(held) {}

uint64_t ShardHolder::FreeLocked() const {
  const uint64_t used = held_ + reserved_;
  return used >= options_.quota_bytes ? 0 : options_.quota_bytes - used;
}

uint64_t ShardHolder::free_bytes() {
  absl::MutexLock lock(&mu_);
  return FreeLocked();
}

uint64_t ShardHolder::held_bytes() {
  absl::MutexLock lock(&mu_);
  return held_;
}

void ShardHolder::DeleteBlobs(const std::vector<std::string>& cids) {
  for (const std::string& text : cids) {
    absl::StatusOr<cas::Cid> cid = cas::Cid::Parse(text);
    if (!cid.ok()) continue;
    absl::Status s = blobs_->Delete(*cid);
    if (!s.ok() && !absl::IsNotFound(s))
      spdlog::warn("cannot delete shard {}: {}", text, s.ToString());
  }
}

absl::StatusOr<job::ShardsHeld> ShardHolder::Store(const std::string& peer,
                                                   const job::StoreShards& request) {
  if (request.owner != peer) {
    return absl::PermissionDeniedError("shards are held only for the node that asks");
  }
  // What is new here: a shard already held for this owner's file is not fetched or counted
  // again (a retried request is answered at once).
  MESH_ASSIGN_OR_RETURN(std::vector<HeldShard> already, db_->HeldFor(peer, request.file));
  std::set<std::string> have;
  for (const HeldShard& s : already) have.insert(s.cid);
  std::vector<job::ShardRef> wanted;
  std::set<std::string> seen;
  uint64_t new_bytes = 0;
  for (const job::ShardRef& shard : request.shards) {
    if (shard.bytes == 0 || shard.bytes > options_.max_shard_bytes) {
      return absl::InvalidArgumentError(mesh::StrCat("shard ", shard.cid, " declares ", shard.bytes,
                                                     " bytes; this node holds "
                                                     "shards of 1 byte to ",
                                                     FormatBytes(options_.max_shard_bytes)));
    }
    if (!seen.insert(shard.cid).second || have.contains(shard.cid)) continue;
    wanted.push_back(shard);
    new_bytes += shard.bytes;
  }
  {
    absl::MutexLock lock(&mu_);
    if (storing_ >= options_.max_concurrent_stores) {
      return absl::UnavailableError(
          mesh::StrCat("this node is already taking ", storing_, " transfers of shards; retry"));
    }
    if (new_bytes > FreeLocked()) {
      return absl::ResourceExhaustedError(
          mesh::StrCat("over this node's storage quota: ", FormatBytes(FreeLocked()), " free of ",
                       FormatBytes(options_.quota_bytes), ", ", FormatBytes(new_bytes), " asked"));
    }
    ++storing_;
    reserved_ += new_bytes;
  }
  std::vector<HeldShard> fetched;
  std::vector<std::string> to_delete;  // what this request added to the blob store
  absl::Status status;
  for (const job::ShardRef& shard : wanted) {
    absl::StatusOr<cas::Cid> cid = cas::Cid::Parse(shard.cid);
    if (!cid.ok()) {
      status = cid.status();
      break;
    }
    absl::StatusOr<bool> present = blobs_->Has(*cid);
    if (!present.ok()) {
      status = present.status();
      break;
    }
    if (!*present) {
      status = fetch_(peer, request.source_address, shard.cid, shard.bytes);
      if (!status.ok()) {
        status =
            absl::Status(status.code(), mesh::StrCat("shard ", shard.cid, ": ", status.message()));
        break;
      }
      to_delete.push_back(shard.cid);
    }
    absl::StatusOr<cas::BlobInfo> info = blobs_->Stat(*cid);
    if (!info.ok()) {
      status = info.status();
      break;
    }
    if (info->size != shard.bytes) {
      status = absl::InvalidArgumentError(mesh::StrCat(
          "shard ", shard.cid, " is ", info->size, " bytes, not ", shard.bytes, " as declared"));
      break;
    }
    // The node's own blob (not a shard held for anyone) is never deleted when released.
    bool own = false;
    if (*present) {
      absl::StatusOr<bool> held = db_->IsHeld(shard.cid);
      if (!held.ok()) {
        status = held.status();
        break;
      }
      own = !*held;
    }
    fetched.push_back({shard.cid, shard.bytes, own});
  }
  if (status.ok()) status = db_->Hold(peer, request.file, fetched, clock_->Now());
  if (!status.ok()) DeleteBlobs(to_delete);
  {
    absl::MutexLock lock(&mu_);
    --storing_;
    reserved_ -= new_bytes;
    if (status.ok()) held_ += new_bytes;
  }
  if (!status.ok()) return status;
  job::ShardsHeld reply;
  reply.holder = self_;
  reply.file = request.file;
  for (const job::ShardRef& shard : request.shards) {
    if (std::find(reply.shards.begin(), reply.shards.end(), shard.cid) == reply.shards.end()) {
      reply.shards.push_back(shard.cid);
    }
  }
  reply.free_bytes = free_bytes();
  return reply;
}

absl::StatusOr<std::optional<std::unique_ptr<cas::ByteSource>>> ShardHolder::OpenHeld(
    const cas::Cid& cid, uint64_t offset) {
  const std::string name = cid.ToString();
  MESH_ASSIGN_OR_RETURN(bool held, db_->IsHeld(name));
  if (!held) return std::nullopt;
  MESH_ASSIGN_OR_RETURN(ScopedFd fd, blobs_->OpenForRange(cid));
  MESH_ASSIGN_OR_RETURN(std::unique_ptr<cas::ByteSource> source,
                        cas::FileSourceAt(std::move(fd), offset, name));
  return std::optional<std::unique_ptr<cas::ByteSource>>(std::move(source));
}

absl::StatusOr<job::ShardsHeld> ShardHolder::Drop(const std::string& peer,
                                                  const job::DropShards& request) {
  if (request.owner != peer) {
    return absl::PermissionDeniedError("shards are dropped only by the node that placed them");
  }
  MESH_ASSIGN_OR_RETURN(std::vector<HeldShard> before, db_->HeldFor(peer, request.file));
  MESH_ASSIGN_OR_RETURN(std::vector<std::string> unreferenced,
                        db_->Release(peer, request.file, request.shards));
  MESH_ASSIGN_OR_RETURN(std::vector<HeldShard> after, db_->HeldFor(peer, request.file));
  uint64_t released = 0;
  for (const HeldShard& s : before) released += s.bytes;
  for (const HeldShard& s : after) released -= s.bytes;
  DeleteBlobs(unreferenced);
  {
    absl::MutexLock lock(&mu_);
    held_ -= std::min(held_, released);
  }
  job::ShardsHeld reply;
  reply.holder = self_;
  reply.file = request.file;
  for (const HeldShard& s : after) {
    if (reply.shards.size() == job::kMaxShardsPerMessage) break;
    reply.shards.push_back(s.cid);
  }
  reply.free_bytes = free_bytes();
  return reply;
}

absl::StatusOr<job::AuditProof> ShardHolder::Audit(const std::string& peer,
                                                   const job::AuditChallenge& challenge) {
  if (challenge.owner != peer) {
    return absl::PermissionDeniedError("audits are answered only to the shard's owner");
  }
  MESH_ASSIGN_OR_RETURN(std::vector<HeldShard> held, db_->HeldFor(peer, challenge.file));
  const auto it = std::find_if(held.begin(), held.end(),
                               [&](const HeldShard& s) { return s.cid == challenge.shard; });
  if (it == held.end()) {
    return absl::NotFoundError(mesh::StrCat("no shard ", challenge.shard, " of ", challenge.file,
                                            " is held here for ", peer));
  }
  if (challenge.length == 0 || challenge.length > job::kMaxAuditBytes ||
      challenge.offset > it->bytes || challenge.length > it->bytes - challenge.offset) {
    return absl::OutOfRangeError(mesh::StrCat("range ", challenge.offset, "+", challenge.length,
                                              " is outside the shard's ", it->bytes, " bytes"));
  }
  MESH_ASSIGN_OR_RETURN(cas::Cid cid, cas::Cid::Parse(challenge.shard));
  MESH_ASSIGN_OR_RETURN(ScopedFd fd, blobs_->OpenForRange(cid));
  std::string range(challenge.length, '\0');
  size_t got = 0;
  while (got < range.size()) {
    const ssize_t n = ::pread(fd.get(), range.data() + got, range.size() - got,
                              static_cast<off_t>(challenge.offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoToStatus(errno, "read a shard for an audit");
    if (n == 0) return absl::DataLossError("the shard is shorter than recorded");
    got += static_cast<size_t>(n);
  }
  const crypto::Digest digest = crypto::Sha256Of(range);
  job::AuditProof proof;
  proof.holder = self_;
  proof.shard = challenge.shard;
  proof.sha256 =
      HexEncode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
  return proof;
}

}  // namespace mesh::node
