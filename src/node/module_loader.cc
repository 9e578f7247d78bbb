#include "mesh/node/module_loader.h"

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::node {

namespace {
constexpr size_t kMaxInputsSeen = 4096;
}  // namespace

std::shared_ptr<const std::string> ModuleLoader::Cached(const std::string& cid) {
  absl::MutexLock lock(&mu_);
  auto it = cache_.find(cid);
  if (it == cache_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.pos);
  return it->second.bytes;
}

std::shared_ptr<const std::string> ModuleLoader::Keep(const std::string& cid, std::string bytes) {
  auto shared = std::make_shared<const std::string>(std::move(bytes));
  absl::MutexLock lock(&mu_);
  if (auto it = cache_.find(cid); it != cache_.end()) return it->second.bytes;
  lru_.push_front(cid);
  cache_[cid] = Entry{shared, lru_.begin()};
  cached_bytes_ += shared->size();
  while (cached_bytes_ > cache_bytes_ && lru_.size() > 1) {
    auto old = cache_.find(lru_.back());
    cached_bytes_ -= old->second.bytes->size();
    cache_.erase(old);
    lru_.pop_back();
  }
  return shared;
}

absl::StatusOr<std::shared_ptr<const std::string>> ModuleLoader::Module(const std::string& cid) {
  if (std::shared_ptr<const std::string> hit = Cached(cid)) return hit;
  MESH_ASSIGN_OR_RETURN(cas::Cid parsed, cas::Cid::Parse(cid));
  absl::StatusOr<std::string> bytes = blobs_->Get(parsed, max_module_bytes_);
  if (absl::IsNotFound(bytes.status())) {
    return absl::NotFoundError(mesh::StrCat("module ", cid, " is not in this node's blob store"));
  }
  MESH_RETURN_IF_ERROR(bytes.status());
  return Keep(cid, *std::move(bytes));
}

absl::StatusOr<std::string> ModuleLoader::Input(const std::vector<std::string>& cids,
                                                uint64_t max_bytes) {
  MESH_ASSIGN_OR_RETURN(std::vector<wasm::StdinPiece> pieces, InputPieces(cids, max_bytes));
  size_t total = 0;
  for (const wasm::StdinPiece& p : pieces) total += p.bytes.size();
  std::string input;
  input.reserve(total);
  for (const wasm::StdinPiece& p : pieces) input.append(p.bytes);
  return input;
}

absl::StatusOr<std::vector<wasm::StdinPiece>> ModuleLoader::InputPieces(
    const std::vector<std::string>& cids, uint64_t max_bytes) {
  std::vector<wasm::StdinPiece> input;
  uint64_t total = 0;
  for (const std::string& text : cids) {
    MESH_ASSIGN_OR_RETURN(cas::Cid cid, cas::Cid::Parse(text));
    absl::StatusOr<cas::BlobInfo> info = blobs_->Stat(cid);
    if (absl::IsNotFound(info.status())) {
      return absl::NotFoundError(mesh::StrCat("input ", text, " is not in this node's blob store"));
    }
    MESH_RETURN_IF_ERROR(info.status());
    if (total + info->size > max_bytes) {
      return absl::ResourceExhaustedError(
          mesh::StrCat("the job's inputs exceed the node's input limit of ", max_bytes,
                       " bytes; split the input over several jobs"));
    }
    total += info->size;
    if (std::shared_ptr<const std::string> hit = Cached(text)) {
      input.push_back({.cid = text, .bytes = *hit, .keep = hit});
      continue;
    }
    MESH_ASSIGN_OR_RETURN(std::string bytes, blobs_->Get(cid, max_bytes));
    bool again = false;
    {
      absl::MutexLock lock(&mu_);
      if (inputs_seen_.size() >= kMaxInputsSeen) inputs_seen_.clear();
      again = !inputs_seen_.insert(text).second;
      if (again) inputs_seen_.erase(text);
    }
    if (again) {
      std::shared_ptr<const std::string> kept = Keep(text, std::move(bytes));
      input.push_back({.cid = text, .bytes = *kept, .keep = kept});
    } else {
      input.push_back(wasm::StdinPiece::Owned(text, std::move(bytes)));
    }
  }
  return input;
}

}  // namespace mesh::node
