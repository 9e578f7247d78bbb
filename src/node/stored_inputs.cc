#include "mesh/node/stored_inputs.h"

#include <utility>

#include "mesh/cas/cid.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/did_key.h"
#include "mesh/crypto/sealed_box.h"
#include "mesh/storage/store_file.h"
#include "mesh/storage/store_manifest.h"
#include "spdlog/spdlog.h"

namespace mesh::node {
namespace {

// Jobs whose grants are kept at once: far above any node's slots and queue; beyond it the
// oldest-named entry goes (a job that never ended, or a peer flooding assignments).
constexpr size_t kMaxJobsKept = 1 << 16;

template <typename Map>
void MakeRoom(Map& map) {
  if (map.size() < kMaxJobsKept) return;
  spdlog::warn("stored inputs: {} jobs kept; forgetting job {}", map.size(), map.begin()->first);
  map.erase(map.begin());
}

}  // namespace

StoredInputs::StoredInputs(const crypto::KeyPair* key, StoreDb* db, FileStore* files)
    : key_(key), db_(db), files_(files) {}

bool StoredInputs::MayBeStoredFile(std::string_view cid) {
  // Every job's inputs pass here: a raw blob's CID ("bafk...") is told apart by its prefix, the
  // text form of CIDv1 + dag-json in base32.
  if (cid.substr(0, 4) != "bagu") return false;
  absl::StatusOr<cas::Cid> parsed = cas::Cid::Parse(cid);
  return parsed.ok() && parsed->codec() == cas::Codec::kDagJson;
}

std::vector<StoredFileRecord> StoredInputs::OwnFiles(const std::vector<std::string>& inputs) {
  std::vector<StoredFileRecord> out;
  for (const std::string& cid : inputs) {
    if (!MayBeStoredFile(cid)) continue;
    absl::StatusOr<std::optional<StoredFileRecord>> file = db_->File(cid);
    if (file.ok() && file->has_value()) out.push_back(**std::move(file));
  }
  return out;
}

absl::StatusOr<std::vector<uint64_t>> StoredInputs::SegmentSizes(const std::string& cid) {
  if (OwnFiles({cid}).empty()) {
    return absl::FailedPreconditionError(
        mesh::StrCat("a split over segments needs a file this node stored as its first input; ",
                     cid, " is not one (`mesh store ls` lists them)"));
  }
  MESH_ASSIGN_OR_RETURN(storage::StoreManifest manifest, files_->LoadManifest(cid));
  return storage::SegmentSizes(manifest);
}

void StoredInputs::Register(const std::string& job_id, const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const StoredFileRecord& f : OwnFiles(inputs)) files.push_back(f.cid);
  if (files.empty()) return;
  absl::MutexLock lock(&mu_);
  MakeRoom(delegated_);
  delegated_[job_id] = std::move(files);
}

absl::StatusOr<std::vector<job::KeyGrant>> StoredInputs::GrantsFor(const std::string& job_id,
                                                                   const std::string& executor) {
  std::vector<std::string> files;
  {
    absl::MutexLock lock(&mu_);
    auto it = delegated_.find(job_id);
    if (it == delegated_.end()) return std::vector<job::KeyGrant>();
    files = it->second;
  }
  MESH_ASSIGN_OR_RETURN(crypto::DidKey to, crypto::DidKey::Parse(executor));
  std::vector<job::KeyGrant> grants;
  for (const std::string& cid : files) {
    MESH_ASSIGN_OR_RETURN(std::optional<StoredFileRecord> file, db_->File(cid));
    if (!file.has_value()) {
      return absl::NotFoundError(
          mesh::StrCat("stored file ", cid, " was removed while a job reading it waited"));
    }
    MESH_ASSIGN_OR_RETURN(storage::StoreManifest manifest, files_->LoadManifest(cid));
    job::KeyGrant grant;
    grant.file = cid;
    if (manifest.encrypted) {
      MESH_ASSIGN_OR_RETURN(std::string key, storage::OpenFileKey(manifest, *key_));
      MESH_ASSIGN_OR_RETURN(grant.sealed_key, crypto::SealTo(to, key));
    }
    for (const ShardPlacement& h : file->holders) {
      grant.holders.push_back({h.index, h.did, h.address});
    }
    grants.push_back(std::move(grant));
  }
  return grants;
}

void StoredInputs::Accept(const std::string& job_id, std::vector<job::KeyGrant> grants) {
  if (grants.empty()) return;
  absl::MutexLock lock(&mu_);
  MakeRoom(granted_);
  granted_[job_id] = std::move(grants);
}

void StoredInputs::Forget(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  delegated_.erase(job_id);
  granted_.erase(job_id);
}

absl::StatusOr<std::optional<std::string>> StoredInputs::Read(const std::string& job_id,
                                                              const std::string& cid,
                                                              uint64_t max_bytes,
                                                              std::optional<uint32_t> segment) {
  if (!MayBeStoredFile(cid)) return std::nullopt;
  std::optional<job::KeyGrant> grant;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = granted_.find(job_id); it != granted_.end()) {
      for (const job::KeyGrant& g : it->second) {
        if (g.file == cid) grant = g;
      }
    }
  }
  if (grant.has_value()) {
    // Granted by the job's submitter: the manifest came with the job's other inputs.
    std::string key;
    if (!grant->sealed_key.empty()) {
      absl::StatusOr<std::string> opened = key_->OpenSealed(grant->sealed_key);
      if (!opened.ok()) {
        return absl::PermissionDeniedError(
            mesh::StrCat("stored input ", cid, ": the key granted for job ", job_id,
                         " does not open with this node's identity: ", opened.status().message()));
      }
      key = *std::move(opened);
    }
    MESH_ASSIGN_OR_RETURN(storage::StoreManifest manifest, files_->LoadManifest(cid));
    if (manifest.encrypted && key.empty()) {
      return absl::PermissionDeniedError(mesh::StrCat(
          "stored input ", cid, " is encrypted, and the grant for job ", job_id, " has no key"));
    }
    std::vector<ShardPlacement> holders;
    for (const job::GrantHolder& h : grant->holders) {
      holders.push_back({.index = h.index, .did = h.did, .address = h.address});
    }
    return ReadAll(manifest, holders, std::move(key), cid, max_bytes, segment);
  }
  MESH_ASSIGN_OR_RETURN(std::optional<StoredFileRecord> own, db_->File(cid));
  if (own.has_value()) {
    MESH_ASSIGN_OR_RETURN(storage::StoreManifest manifest, files_->LoadManifest(cid));
    MESH_ASSIGN_OR_RETURN(std::string key, storage::OpenFileKey(manifest, *key_));
    return ReadAll(manifest, own->holders, std::move(key), cid, max_bytes, segment);
  }
  // Any other dag-json input is an ordinary blob, unless it is a stored file's manifest.
  if (absl::StatusOr<storage::StoreManifest> manifest = files_->LoadManifest(cid); manifest.ok()) {
    return absl::FailedPreconditionError(mesh::StrCat(
        "input ", cid, " is a file stored by ", manifest->owner, "; no key for it was granted ",
        "to this node for job ", job_id, " (only the node that stored it can grant one)"));
  }
  return std::nullopt;
}

absl::StatusOr<std::string> StoredInputs::ReadAll(const storage::StoreManifest& manifest,
                                                  const std::vector<ShardPlacement>& holders,
                                                  std::string key, const std::string& cid,
                                                  uint64_t max_bytes,
                                                  std::optional<uint32_t> segment) {
  uint64_t size = manifest.size;
  storage::SegmentRange range;
  if (segment.has_value()) {
    const std::vector<uint64_t> sizes = storage::SegmentSizes(manifest);
    if (*segment >= sizes.size()) {
      return absl::InvalidArgumentError(mesh::StrCat("stored input ", cid, " has ", sizes.size(),
                                                     " segment(s); there is no segment ",
                                                     *segment));
    }
    size = sizes[*segment];
    range = {*segment, 1};
  }
  if (size > max_bytes) {
    return absl::ResourceExhaustedError(mesh::StrCat(
        "stored input ", cid, " is ", size, " bytes, over what is left of the node's input limit (",
        max_bytes, " bytes); split the job over its segments (--split segments)"));
  }
  std::string plain;
  plain.reserve(size);
  absl::StatusOr<GetStats> read = files_->Read(
      manifest, holders, std::move(key),
      [&plain](std::string_view bytes) {
        plain.append(bytes);
        return absl::OkStatus();
      },
      range);
  if (!read.ok()) {
    return absl::Status(read.status().code(),
                        mesh::StrCat("stored input ", cid, ": ", read.status().message()));
  }
  return plain;
}

}  // namespace mesh::node
