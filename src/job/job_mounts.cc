#include "mesh/job/job_mounts.h"

#include "absl/container/flat_hash_set.h"
#include "field_reader.h"
#include "mesh/cas/cid.h"
#include "mesh/cas/dir_manifest.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::job {
namespace {

absl::Status At(std::string_view where, const absl::Status& status) {
  return absl::InvalidArgumentError(mesh::StrCat(where, ": ", status.message()));
}

}  // namespace

bool JobMount::is_file() const {
  absl::StatusOr<cas::Cid> parsed = cas::Cid::Parse(cid);
  return parsed.ok() && parsed->codec() == cas::Codec::kRaw;
}

absl::Status CheckGuestPath(std::string_view path, std::string_view what) {
  if (path.empty() || path.front() != '/') {
    return absl::InvalidArgumentError(
        mesh::StrCat(what, " must be an absolute guest path (\"/data\")"));
  }
  if (path == "/") return absl::OkStatus();
  cas::ManifestLimits limits;
  limits.max_path_bytes = kMaxGuestPathBytes - 1;
  return cas::CheckRelativePath(path.substr(1), limits, what);
}

absl::StatusOr<std::string> NormaliseGuestPath(std::string_view path, std::string_view what) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(
        mesh::StrCat(what, " '", path, "' is not an absolute guest path (e.g. /data)"));
  }
  std::string out;
  for (size_t start = 1; start <= path.size();) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(start, end - start);
    if (part == "..") {
      return absl::InvalidArgumentError(mesh::StrCat(what, " '", path, "' holds '..'"));
    }
    if (!part.empty() && part != ".") out.append("/").append(part);
    start = end + 1;
  }
  if (out.empty()) out = "/";
  MESH_RETURN_IF_ERROR(CheckGuestPath(out, what));
  return out;
}

std::string GuestParent(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

nlohmann::json ToJson(const JobMount& mount) {
  nlohmann::json j = {{"cid", mount.cid}, {"path", mount.path}};
  if (mount.writable) j["writable"] = true;
  return j;
}

absl::StatusOr<std::vector<JobMount>> MountsFromJson(const nlohmann::json& json,
                                                     std::string_view mounts_path) {
  if (!json.is_array()) {
    return absl::InvalidArgumentError(mesh::StrCat(mounts_path, ": must be an array"));
  }
  if (json.size() > kMaxMounts) {
    return absl::InvalidArgumentError(mesh::StrCat(mounts_path, ": at most ", kMaxMounts,
                                                   " mounts; put the files in one directory"));
  }
  std::vector<JobMount> mounts;
  for (size_t i = 0; i < json.size(); ++i) {
    FieldReader r(json[i], mesh::StrCat(mounts_path, "/", i));
    MESH_RETURN_IF_ERROR(r.CheckObject());
    MESH_RETURN_IF_ERROR(r.CheckKnownKeys({"cid", "path", "writable"}));
    JobMount mount;
    MESH_ASSIGN_OR_RETURN(mount.cid, r.Cid("cid", true));
    MESH_ASSIGN_OR_RETURN(mount.path, r.String("path", true, kMaxGuestPathBytes));
    MESH_ASSIGN_OR_RETURN(mount.writable, r.Bool("writable", false));
    mounts.push_back(std::move(mount));
  }
  return mounts;
}

absl::Status CheckMounts(const std::vector<JobMount>& mounts, const std::string& output_dir) {
  if (mounts.size() > kMaxMounts) {
    return absl::InvalidArgumentError(
        mesh::StrCat("/mounts: at most ", kMaxMounts, " mounts; put the files in one directory"));
  }
  absl::flat_hash_set<std::string> paths, dirs, read_only, file_parents;
  for (size_t i = 0; i < mounts.size(); ++i) {
    const JobMount& m = mounts[i];
    const std::string where = mesh::StrCat("/mounts/", i);
    MESH_RETURN_IF_ERROR(CheckGuestPath(m.path, where + "/path"));
    absl::StatusOr<cas::Cid> cid = cas::Cid::Parse(m.cid);
    if (!cid.ok()) return At(where + "/cid", cid.status());
    if (cid->codec() != cas::Codec::kRaw && cid->codec() != cas::Codec::kDagJson) {
      return absl::InvalidArgumentError(mesh::StrCat(
          where, "/cid: must name a file (a raw CID) or a directory manifest (dag-json), not a ",
          cas::CodecName(cid->codec()), " block"));
    }
    if (!paths.insert(m.path).second) {
      return absl::InvalidArgumentError(
          mesh::StrCat(where, "/path: ", m.path, " is mounted twice"));
    }
    if (cid->codec() == cas::Codec::kRaw) {
      if (m.path == "/") {
        return absl::InvalidArgumentError(mesh::StrCat(where, "/path: a file cannot be \"/\""));
      }
      if (m.writable) {
        return absl::InvalidArgumentError(mesh::StrCat(
            where, "/writable: a file mount is read-only; mount a directory to write in it"));
      }
      file_parents.insert(GuestParent(m.path));
    } else {
      dirs.insert(m.path);
      if (!m.writable) read_only.insert(m.path);
    }
  }
  for (const std::string& parent : file_parents) {
    if (dirs.contains(parent)) {
      return absl::InvalidArgumentError(mesh::StrCat(
          "/mounts: a file is mounted in ", parent,
          ", which is also a mounted directory; put the file in that directory's tree"));
    }
  }
  if (output_dir.empty()) return absl::OkStatus();
  MESH_RETURN_IF_ERROR(CheckGuestPath(output_dir, "/output_dir"));
  if (output_dir == "/") {
    return absl::InvalidArgumentError("/output_dir: must be a directory below \"/\" (\"/out\")");
  }
  if (read_only.contains(output_dir) || file_parents.contains(output_dir) ||
      (paths.contains(output_dir) && !dirs.contains(output_dir))) {
    return absl::InvalidArgumentError(
        mesh::StrCat("/output_dir: ", output_dir,
                     " is a read-only mount; name another directory or make the mount writable"));
  }
  return absl::OkStatus();
}

}  // namespace mesh::job
