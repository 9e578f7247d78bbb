// The files of a job: what its spec mounts (a directory manifest or a single file, by CID, at a
// guest path) and the guest directory whose files become the job's output tree. Part of a
// JobSpec (spec.mounts, spec.output_dir); both are left out of the JSON when unused, so older
// specs keep their bytes and ids. Plain value types; the functions are pure.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace mesh::job {

inline constexpr size_t kMaxMounts = 16;
inline constexpr size_t kMaxGuestPathBytes = 1024;

struct JobMount {
  // A directory manifest (dag-json CID, cas/dir_manifest.h): the tree is mounted at `path`. A
  // file (raw CID): `path` names the file; file mounts under one directory share it (read-only).
  std::string cid;
  std::string path;       // absolute and normalised: "/data", "/data/in.csv"
  bool writable = false;  // a directory the job may change: a private copy, the source stays

  bool is_file() const;  // the CID is raw
  friend bool operator==(const JobMount&, const JobMount&) = default;
};

// Absolute, normalised ("/" alone, or "/a/b": no empty, "." or ".." component, no trailing
// '/'), UTF-8 without control characters, at most kMaxGuestPathBytes. `what` names it in errors.
absl::Status CheckGuestPath(std::string_view path, std::string_view what);

// What a person types, made a guest path: "/data/", "//data/./x" → "/data", "/data/x"; "/" stays
// "/". Then CheckGuestPath's rules. InvalidArgument naming `what` for a relative path, a ".."
// component (refused, not resolved: "/a/../b" is a mistake to show, not a path to guess).
absl::StatusOr<std::string> NormaliseGuestPath(std::string_view path, std::string_view what);

// The directory a guest path is in ("/" for "/a").
std::string GuestParent(std::string_view path);

nlohmann::json ToJson(const JobMount& mount);
// `mounts_path` is the JSON path of the array ("/mounts"). Checks each mount, that no two use
// the same path, and that `output_dir` (may be empty) is a valid path that is no read-only
// mount's and no file's; errors name the JSON path.
absl::StatusOr<std::vector<JobMount>> MountsFromJson(const nlohmann::json& json,
                                                     std::string_view mounts_path);
absl::Status CheckMounts(const std::vector<JobMount>& mounts, const std::string& output_dir);

}  // namespace mesh::job
