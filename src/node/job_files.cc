#include "mesh/node/job_files.h"

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/storage/store_manifest.h"
#include "mesh/wasm/host_tree.h"

namespace mesh::node {
namespace {

wasm::FsKind KindOf(cas::EntryKind kind) {
  switch (kind) {
    case cas::EntryKind::kFile:
      return wasm::FsKind::kFile;
    case cas::EntryKind::kDirectory:
      return wasm::FsKind::kDirectory;
    case cas::EntryKind::kSymlink:
      return wasm::FsKind::kSymlink;
  }
  return wasm::FsKind::kFile;
}

// A file node whose bytes are filled in once every mount's blobs are read.
struct PendingFile {
  size_t mount;
  size_t node;
  std::string cid;
};

}  // namespace

absl::StatusOr<std::vector<wasm::FsMount>> MountsFor(cas::BlobStore& blobs, ModuleLoader& loader,
                                                     const std::vector<job::JobMount>& mounts,
                                                     uint64_t max_bytes) {
  std::vector<wasm::FsMount> images;
  std::map<std::string, size_t> file_dirs;  // guest directory of file mounts -> image
  std::vector<PendingFile> pending;
  std::vector<std::string> cids;  // each file blob once, in first use order
  absl::flat_hash_set<std::string> seen;
  const auto need = [&](size_t mount, size_t node, const std::string& cid,
                        const std::string& where) -> absl::Status {
    pending.push_back({mount, node, cid});
    if (!seen.insert(cid).second) return absl::OkStatus();
    MESH_ASSIGN_OR_RETURN(cas::Cid parsed, cas::Cid::Parse(cid));
    MESH_ASSIGN_OR_RETURN(bool present, blobs.Has(parsed));
    if (!present) {
      return absl::NotFoundError(
          mesh::StrCat("blob ", cid, " (", where, ") is not in this node's blob store"));
    }
    cids.push_back(cid);
    return absl::OkStatus();
  };
  for (const job::JobMount& m : mounts) {
    MESH_ASSIGN_OR_RETURN(cas::Cid cid, cas::Cid::Parse(m.cid));
    if (cid.codec() == cas::Codec::kRaw) {
      const std::string dir = job::GuestParent(m.path);
      auto [it, added] = file_dirs.emplace(dir, images.size());
      if (added) images.push_back(wasm::FsMount{.guest_path = dir, .read_only = true});
      wasm::FsMount& image = images[it->second];
      image.nodes.push_back({.path = std::string(cas::BaseName(m.path))});
      MESH_RETURN_IF_ERROR(
          need(it->second, image.nodes.size() - 1, m.cid, mesh::StrCat("mounted at ", m.path)));
      continue;
    }
    MESH_ASSIGN_OR_RETURN(cas::DirManifest manifest, cas::GetManifest(blobs, cid));
    const size_t index = images.size();
    images.push_back(wasm::FsMount{.guest_path = m.path, .read_only = !m.writable});
    std::vector<wasm::FsNode>& nodes = images.back().nodes;
    nodes.reserve(manifest.entries.size());
    for (cas::DirEntry& e : manifest.entries) {
      wasm::FsNode node{.path = std::move(e.path), .kind = KindOf(e.kind)};
      if (e.kind == cas::EntryKind::kSymlink) {
        node.content = wasm::StdinPiece::Owned("", std::move(e.target));
      }
      nodes.push_back(std::move(node));
      if (e.kind == cas::EntryKind::kFile) {
        MESH_RETURN_IF_ERROR(need(index, nodes.size() - 1, e.cid->ToString(),
                                  mesh::StrCat(m.path, "/", nodes.back().path)));
      }
    }
  }
  absl::StatusOr<std::vector<wasm::StdinPiece>> pieces = loader.InputPieces(cids, max_bytes);
  if (absl::IsResourceExhausted(pieces.status())) {
    return absl::ResourceExhaustedError(
        mesh::StrCat("the job's mounted files exceed the node's input limit of ", max_bytes,
                     " bytes; mount less, or split the job"));
  }
  MESH_RETURN_IF_ERROR(pieces.status());
  absl::flat_hash_map<std::string, const wasm::StdinPiece*> by_cid;
  for (const wasm::StdinPiece& p : *pieces) by_cid[p.cid] = &p;
  for (const PendingFile& f : pending) {
    const wasm::StdinPiece& piece = *by_cid.at(f.cid);
    images[f.mount].nodes[f.node].content = piece;  // shares the bytes (keep), never copies
  }
  for (const auto& [dir, index] : file_dirs) {
    std::vector<wasm::FsNode>& nodes = images[index].nodes;
    std::sort(nodes.begin(), nodes.end(),
              [](const wasm::FsNode& a, const wasm::FsNode& b) { return a.path < b.path; });
  }
  return images;
}

absl::StatusOr<cas::Cid> StoreOutputTree(cas::BlobStore& blobs,
                                         const std::vector<wasm::OutputFile>& files) {
  MESH_ASSIGN_OR_RETURN(const cas::DirManifest manifest,
                        wasm::OutputManifest(files, [&blobs](const std::string& bytes) {
                          return blobs.PutBytes(bytes);
                        }));
  return cas::PutManifest(blobs, manifest);
}

absl::StatusOr<std::vector<std::string>> MissingMountBlobs(cas::BlobStore& blobs,
                                                           const std::vector<std::string>& cids) {
  std::vector<std::string> missing;
  absl::flat_hash_set<std::string> listed;
  const auto check = [&](const cas::Cid& cid) -> absl::StatusOr<bool> {
    MESH_ASSIGN_OR_RETURN(bool present, blobs.Has(cid));
    if (!present && listed.insert(cid.ToString()).second) missing.push_back(cid.ToString());
    return present;
  };
  for (const std::string& text : cids) {
    MESH_ASSIGN_OR_RETURN(cas::Cid cid, cas::Cid::Parse(text));
    MESH_ASSIGN_OR_RETURN(bool present, check(cid));
    if (!present || cid.codec() != cas::Codec::kDagJson) continue;
    absl::StatusOr<cas::DirManifest> manifest = cas::GetManifest(blobs, cid);
    if (!manifest.ok()) {
      // A stored file's manifest (an input): its shards come from their holders when it runs.
      absl::StatusOr<std::string> bytes = blobs.Get(cid, storage::kMaxStoreManifestBytes);
      if (bytes.ok() && storage::ParseStoreManifest(*bytes).ok()) continue;
      return manifest.status();
    }
    for (const cas::DirEntry& e : manifest->entries) {
      if (e.kind == cas::EntryKind::kFile) MESH_RETURN_IF_ERROR(check(*e.cid).status());
    }
  }
  return missing;
}

}  // namespace mesh::node
