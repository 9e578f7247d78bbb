#include "tree_transfer.h"

#include <set>

#include "mesh/cas/cid.h"
#include "mesh/cas/dir_manifest.h"
#include "mesh/cas/dir_tree.h"
#include "mesh/common/file_util.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/sha256.h"
#include "mesh/job/job_mounts.h"
#include "node_client.h"

namespace mesh::cli {

using nlohmann::json;

absl::StatusOr<std::string> UploadTree(api::HttpClient& client, const std::filesystem::path& root) {
  MESH_ASSIGN_OR_RETURN(cas::ImportResult scanned, cas::ScanDirectory(root));
  json entries = json::array();
  std::set<std::string> uploaded;
  for (const cas::DirEntry& e : scanned.manifest.entries) {
    json entry = {{"path", e.path}, {"kind", std::string(cas::EntryKindName(e.kind))}};
    if (e.kind == cas::EntryKind::kSymlink) entry["target"] = e.target;
    if (e.kind == cas::EntryKind::kFile) {
      const std::string cid = e.cid->ToString();
      if (uploaded.insert(cid).second) {
        MESH_ASSIGN_OR_RETURN(json body,
                              JsonOrError(client.UploadFile("/v1/blobs", root / e.path)));
        if (body.value("cid", "") != cid) {
          return absl::AbortedError(
              mesh::StrCat((root / e.path).string(), " changed while it was uploaded; try again"));
        }
      }
      entry["cid"] = cid;
    }
    entries.push_back(std::move(entry));
  }
  MESH_ASSIGN_OR_RETURN(json tree, JsonOrError(client.Request("POST", "/v1/blobs/dir",
                                                              json{{"entries", entries}}.dump())));
  const std::string cid = tree.value("cid", "");
  if (cid != scanned.manifest_cid.ToString()) {
    return absl::AbortedError(mesh::StrCat("the node named the tree ", cid, ", not ",
                                           scanned.manifest_cid.ToString(),
                                           ": a file changed while it was uploaded; try again"));
  }
  return cid;
}

absl::StatusOr<json> UploadMount(api::HttpClient& client, const std::string& flag) {
  std::string spec = flag;
  bool writable = false;
  if (spec.size() > 3 && spec.compare(spec.size() - 3, 3, ":rw") == 0) {
    writable = true;
    spec.resize(spec.size() - 3);
  } else if (spec.size() > 3 && spec.compare(spec.size() - 3, 3, ":ro") == 0) {
    spec.resize(spec.size() - 3);
  }
  const size_t colon = spec.rfind(":/");
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        mesh::StrCat("--mount ", flag, ": must be PATH_OR_CID:/GUEST[:rw] (e.g. ./data:/data)"));
  }
  const std::string source = spec.substr(0, colon);
  MESH_ASSIGN_OR_RETURN(std::string guest,
                        job::NormaliseGuestPath(spec.substr(colon + 1), "--mount's guest path"));
  json mount = {{"path", std::move(guest)}};
  if (writable) mount["writable"] = true;
  std::error_code ec;
  if (std::filesystem::is_directory(source, ec)) {
    MESH_ASSIGN_OR_RETURN(std::string cid, UploadTree(client, source));
    mount["cid"] = cid;
  } else if (std::filesystem::exists(source, ec)) {
    MESH_ASSIGN_OR_RETURN(json body, JsonOrError(client.UploadFile("/v1/blobs", source)));
    mount["cid"] = body.at("cid");
  } else if (cas::Cid::Parse(source).ok()) {
    mount["cid"] = source;
  } else {
    return absl::NotFoundError(
        mesh::StrCat("--mount ", flag, ": ", source, " is neither a directory, a file nor a CID"));
  }
  return mount;
}

absl::Status DownloadTree(api::HttpClient& client, const std::string& job_id,
                          const std::string& files_cid, const std::filesystem::path& dest) {
  if (files_cid.empty()) {
    return absl::FailedPreconditionError(mesh::StrCat(
        "job ", job_id, " has no output tree (its spec names no output_dir, or it has not ended)"));
  }
  std::string manifest_bytes;
  const cas::ManifestLimits limits;
  absl::StatusOr<api::ClientResponse> response = client.Download(
      mesh::StrCat("/v1/blobs/", files_cid, "?job=", job_id), [&](std::string_view chunk) {
        if (manifest_bytes.size() + chunk.size() > limits.max_manifest_bytes) {
          return absl::ResourceExhaustedError("the output tree's manifest is too large");
        }
        manifest_bytes.append(chunk);
        return absl::OkStatus();
      });
  MESH_RETURN_IF_ERROR(response.status());
  if (response->status / 100 != 2) return ApiError(*response);
  MESH_ASSIGN_OR_RETURN(cas::Cid cid, cas::Cid::Parse(files_cid));
  if (cas::Cid::Of(manifest_bytes, cas::Codec::kDagJson) != cid) {
    return absl::DataLossError(mesh::StrCat("the node's manifest does not match ", files_cid));
  }
  MESH_ASSIGN_OR_RETURN(cas::DirManifest manifest, cas::ParseManifest(manifest_bytes, limits));
  return cas::ExportTree(manifest, dest, [&](const cas::DirEntry& e, int fd) -> absl::Status {
    crypto::Sha256 hasher;
    absl::StatusOr<api::ClientResponse> r =
        client.Download(mesh::StrCat("/v1/blobs/", e.cid->ToString(), "?job=", job_id),
                        [&](std::string_view chunk) {
                          hasher.Update(chunk);
                          return WriteAll(fd, chunk);
                        });
    MESH_RETURN_IF_ERROR(r.status());
    if (r->status / 100 != 2) return ApiError(*r);
    if (cas::Cid::FromDigest(hasher.Finish()) != *e.cid) {
      return absl::DataLossError(
          mesh::StrCat((dest / e.path).string(), " does not match its CID ", e.cid->ToString()));
    }
    return absl::OkStatus();
  });
}

}  // namespace mesh::cli
