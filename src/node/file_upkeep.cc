// FileStore's upkeep: audits of holders and repair of lost shards (see file_store.h). What to
// audit or repair, and when, is decided by storage::UpkeepPlanner (the StorageKeeper).
#include <algorithm>
#include <set>
#include <utility>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/node/file_store.h"
#include "spdlog/spdlog.h"

namespace mesh::node {
namespace {

// An audit reads at most 64 KiB on the holder: an answer later than this is none.
constexpr absl::Duration kAuditTimeout = absl::Seconds(10);

bool NoAnswer(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) || absl::IsCancelled(s);
}

}  // namespace

absl::StatusOr<AuditResult> FileStore::Audit(const StoredFileRecord& file, int index) {
  if (peers_ == nullptr || index < 0 || index >= static_cast<int>(file.holders.size())) {
    return absl::FailedPreconditionError(mesh::StrCat("file ", file.cid, " has no shard ", index));
  }
  const ShardPlacement& holder = file.holders[index];
  MESH_ASSIGN_OR_RETURN(storage::StoreManifest manifest, LoadManifest(file.cid));
  MESH_ASSIGN_OR_RETURN(std::optional<AuditRecord> audit, db_->TakeAudit(file.cid, index));
  AuditResult result;
  if (audit.has_value() && audit->segment < manifest.segments.size()) {
    job::AuditChallenge challenge;
    challenge.owner = key_->did().ToString();
    challenge.file = file.cid;
    challenge.shard = manifest.segments[audit->segment].shards.at(index).ToString();
    challenge.offset = audit->offset;
    challenge.length = audit->length;
    absl::StatusOr<job::Message> answer =
        peers_->Ask(holder.did, holder.address, challenge, kAuditTimeout);
    const auto* proof = answer.ok() ? std::get_if<job::AuditProof>(&*answer) : nullptr;
    if (!answer.ok()) {
      result.outcome = NoAnswer(answer.status()) ? AuditOutcome::kNoAnswer : AuditOutcome::kFailed;
      result.detail = answer.status().ToString();
    } else if (proof == nullptr || proof->shard != challenge.shard ||
               proof->sha256 != audit->sha256) {
      result.outcome = AuditOutcome::kFailed;
      result.detail = mesh::StrCat("wrong hash of shard ", challenge.shard, " bytes ",
                                   challenge.offset, "+", challenge.length);
    } else {
      result.outcome = AuditOutcome::kPassed;
    }
  } else {
    // No audit left: fetch the shard of one segment whole, check it, keep new audits from it.
    const uint32_t segment = static_cast<uint32_t>(rng_->Uniform(manifest.segments.size()));
    const storage::SegmentInfo& info = manifest.segments[segment];
    const std::string cid = info.shards.at(index).ToString();
    std::string bytes;
    absl::Status fetched = peers_->FetchFrom(
        holder.did, holder.address, cid, storage::ShardBytes(info.sealed_bytes, manifest.k),
        options_.fetch_timeout, [&bytes](std::string_view chunk) {
          bytes.append(chunk);
          return absl::OkStatus();
        });
    if (!fetched.ok()) {
      result.outcome = NoAnswer(fetched) ? AuditOutcome::kNoAnswer : AuditOutcome::kFailed;
      result.detail = fetched.ToString();
    } else if (cas::Cid::Of(bytes).ToString() != cid) {
      result.outcome = AuditOutcome::kFailed;
      result.detail = mesh::StrCat("shard ", cid, " came back damaged");
    } else {
      result.outcome = AuditOutcome::kPassed;
      storage::AuditSampler sampler(*rng_, 8);
      for (int i = 0; i < 8; ++i) sampler.Offer(index, segment, bytes);
      MESH_RETURN_IF_ERROR(db_->AddAudits(file.cid, sampler.Take()));
    }
  }
  MESH_RETURN_IF_ERROR(
      db_->RecordAudit(file.cid, index, result.outcome == AuditOutcome::kPassed, clock_->Now()));
  return result;
}

absl::StatusOr<RepairResult> FileStore::Repair(const StoredFileRecord& file,
                                               const std::vector<int>& lost) {
  if (peers_ == nullptr) return absl::FailedPreconditionError("repair needs the mesh");
  MESH_ASSIGN_OR_RETURN(storage::StoreManifest manifest, LoadManifest(file.cid));
  MESH_ASSIGN_OR_RETURN(std::string key, storage::OpenFileKey(manifest, *key_));
  MESH_ASSIGN_OR_RETURN(storage::ErasureCode code,
                        storage::ErasureCode::Create(manifest.k, manifest.m));
  MESH_ASSIGN_OR_RETURN(storage::SegmentCodec codec,
                        storage::SegmentCodec::Create(std::move(key), &code));
  const std::set<int> lost_set(lost.begin(), lost.end());
  std::vector<ShardPlacement> sources;
  for (const ShardPlacement& h : file.holders) {
    if (!lost_set.contains(h.index)) sources.push_back(h);
  }
  // Rebuild: each segment from any k of the holders that remain (the next segment fetched
  // while this one is rebuilt); the lost shards come back checked against their CIDs and are
  // staged.
  std::vector<std::vector<Staged>> staged(lost.size());
  storage::AuditSampler audits(*rng_);
  GetStats stats;
  absl::Status status;
  ReadAhead ahead(*this, manifest, sources, static_cast<uint32_t>(manifest.segments.size()), stats);
  for (uint32_t seg = 0; seg < manifest.segments.size() && status.ok(); ++seg) {
    absl::StatusOr<std::vector<std::optional<std::string>>> shards = ahead.Fetch(seg);
    if (!shards.ok()) {
      status = shards.status();
      break;
    }
    for (int i : lost) (*shards)[i].reset();
    // FetchSegment checked each shard against its CID as it arrived; the lost ones are rebuilt
    // and checked against theirs, without decrypting the segment.
    absl::StatusOr<std::vector<std::pair<int, std::string>>> rebuilt =
        codec.Rebuild(seg, manifest.segments[seg], *std::move(shards), lost);
    if (!rebuilt.ok()) {
      status = rebuilt.status();
      break;
    }
    for (size_t j = 0; j < lost.size() && status.ok(); ++j) {
      const auto it = std::find_if(rebuilt->begin(), rebuilt->end(),
                                   [&](const auto& r) { return r.first == lost[j]; });
      if (it == rebuilt->end()) {
        status = absl::InternalError(mesh::StrCat("shard ", lost[j], " was not rebuilt"));
        break;
      }
      absl::StatusOr<Staged> shard = Stage(manifest.segments[seg].shards[lost[j]], it->second);
      if (!shard.ok()) {
        status = shard.status();
        break;
      }
      staged[j].push_back(*std::move(shard));
      audits.Offer(lost[j], seg, it->second);
    }
  }
  if (!status.ok()) {
    DeleteStaged(staged);
    return absl::Status(status.code(),
                        mesh::StrCat("repairing ", file.cid, ": ", status.message()));
  }
  // Place: new peers only, spread against the zones of the holders that remain.
  std::set<std::string> current;
  for (const ShardPlacement& h : file.holders) current.insert(h.did);
  std::vector<storage::HolderCandidate> candidates;
  std::vector<storage::HolderCandidate> remaining;
  for (storage::HolderCandidate& c : peers_->HolderCandidates()) {
    if (!current.contains(c.did)) {
      candidates.push_back(std::move(c));
    } else if (std::any_of(sources.begin(), sources.end(),
                           [&](const ShardPlacement& h) { return h.did == c.did; })) {
      remaining.push_back(std::move(c));
    }
  }
  const uint64_t per_holder = staged.empty() || staged[0].empty() ? 0 : [&] {
    uint64_t bytes = 0;
    for (const Staged& s : staged[0]) bytes += s.bytes;
    return bytes;
  }();
  storage::HolderChooser chooser(std::move(candidates), per_holder, options_.min_reputation);
  for (const storage::HolderCandidate& c : remaining) chooser.Accepted(c);
  std::vector<std::vector<job::ShardRef>> refs(lost.size());
  for (size_t j = 0; j < lost.size(); ++j) {
    for (const Staged& s : staged[j]) refs[j].push_back({s.cid, s.bytes});
  }
  const std::vector<std::optional<storage::HolderCandidate>> placed =
      PlaceSlots(file.cid, refs, chooser);
  DeleteStaged(staged);
  RepairResult result;
  std::vector<AuditRecord> new_audits = audits.Take();
  const absl::Time now = clock_->Now();
  for (size_t j = 0; j < lost.size(); ++j) {
    const int index = lost[j];
    if (!placed[j].has_value()) {
      result.failed.push_back(
          mesh::StrCat("shard ", index, ": no peer took it (", chooser.Explain(), ")"));
      continue;
    }
    MESH_RETURN_IF_ERROR(db_->ReplaceHolder(
        file.cid, {index, placed[j]->did, placed[j]->address, now, now, 0, now}));
    MESH_RETURN_IF_ERROR(db_->ForgetAudits(file.cid, index));
    std::vector<AuditRecord> mine;
    for (const AuditRecord& a : new_audits) {
      if (a.shard == index) mine.push_back(a);
    }
    MESH_RETURN_IF_ERROR(db_->AddAudits(file.cid, mine));
    result.repaired.push_back(index);
    // The old holder may be back some day: it need not keep what is now elsewhere.
    const ShardPlacement& old = file.holders[index];
    TellToDrop(file.cid, old.did, old.address, nullptr);
    spdlog::info("stored file {}: shard {} moved from {} to {}", file.cid, index, old.did,
                 placed[j]->did);
  }
  return result;
}

}  // namespace mesh::node
