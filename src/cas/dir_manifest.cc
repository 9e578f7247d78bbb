#include "mesh/cas/dir_manifest.h"

#include <algorithm>
#include <limits>

#include "absl/container/flat_hash_set.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "nlohmann/json.hpp"

namespace mesh::cas {
namespace {

using nlohmann::json;

// Length of the UTF-8 sequence starting at s[i], or 0 if it is not well formed (overlong forms,
// surrogates and code points past U+10FFFF included).
size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t n = 0;
  uint32_t cp = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 2, cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

absl::Status CheckText(std::string_view text, std::string_view what) {
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) {
      return absl::InvalidArgumentError(
          mesh::StrCat(what, " contains the control character 0x", static_cast<int>(c) / 16,
                       std::string(1, "0123456789abcdef"[c % 16]), "; rename it"));
    }
    const size_t n = Utf8Length(text, i);
    if (n == 0) {
      return absl::InvalidArgumentError(
          mesh::StrCat(what, " is not valid UTF-8 (byte ", i, "); rename it"));
    }
    i += n;
  }
  return absl::OkStatus();
}

std::string EntryName(size_t index, std::string_view path) {
  return mesh::StrCat("manifest entry ", index, " (\"", path.substr(0, 200), "\")");
}

absl::Status EntryError(size_t index, std::string_view path, std::string_view what) {
  return absl::InvalidArgumentError(mesh::StrCat(EntryName(index, path), ": ", what));
}

absl::StatusOr<DirEntry> EntryFromJson(const json& j, size_t index) {
  const std::string where = mesh::StrCat("manifest entry ", index);
  if (!j.is_object()) return absl::InvalidArgumentError(where + ": must be an object");
  const auto string_field = [&](const char* key) -> absl::StatusOr<std::string> {
    auto it = j.find(key);
    if (it == j.end())
      return absl::InvalidArgumentError(mesh::StrCat(where, ": ", key, " is missing"));
    if (!it->is_string()) {
      return absl::InvalidArgumentError(mesh::StrCat(where, ": ", key, " must be a string"));
    }
    return it->get<std::string>();
  };
  DirEntry entry;
  MESH_ASSIGN_OR_RETURN(entry.path, string_field("path"));
  MESH_ASSIGN_OR_RETURN(std::string kind, string_field("kind"));
  std::vector<std::string_view> allowed = {"kind", "path"};
  if (kind == "file") {
    entry.kind = EntryKind::kFile;
    allowed.insert(allowed.end(), {"cid", "size"});
    auto cid = j.find("cid");
    if (cid == j.end() || !cid->is_object() || cid->size() != 1 || !cid->contains("/") ||
        !(*cid)["/"].is_string()) {
      return EntryError(index, entry.path, "a file needs \"cid\": {\"/\": \"<cid>\"}");
    }
    absl::StatusOr<Cid> parsed = Cid::Parse((*cid)["/"].get<std::string>());
    if (!parsed.ok()) return EntryError(index, entry.path, ToStd(parsed.status().message()));
    entry.cid = *parsed;
    auto size = j.find("size");
    if (size == j.end() || !size->is_number_unsigned()) {
      return EntryError(index, entry.path, "a file needs \"size\", a non-negative integer");
    }
    entry.size = size->get<uint64_t>();
  } else if (kind == "dir") {
    entry.kind = EntryKind::kDirectory;
  } else if (kind == "symlink") {
    entry.kind = EntryKind::kSymlink;
    allowed.push_back("target");
    MESH_ASSIGN_OR_RETURN(entry.target, string_field("target"));
  } else {
    return EntryError(index, entry.path, "kind must be one of file, dir, symlink");
  }
  for (const auto& [key, value] : j.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return EntryError(index, entry.path,
                        mesh::StrCat("unknown field \"", key, "\" for a ", kind));
    }
  }
  return entry;
}

}  // namespace

std::string_view EntryKindName(EntryKind kind) {
  switch (kind) {
    case EntryKind::kFile:
      return "file";
    case EntryKind::kDirectory:
      return "dir";
    case EntryKind::kSymlink:
      return "symlink";
  }
  return "?";
}

uint64_t DirManifest::TotalFileBytes() const {
  uint64_t total = 0;
  for (const DirEntry& e : entries) total += e.kind == EntryKind::kFile ? e.size : 0;
  return total;
}

size_t DirManifest::FileCount() const {
  return std::count_if(entries.begin(), entries.end(),
                       [](const DirEntry& e) { return e.kind == EntryKind::kFile; });
}

std::string_view ParentPath(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

std::string_view BaseName(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

absl::Status CheckRelativePath(std::string_view path, const ManifestLimits& limits,
                               std::string_view what) {
  if (path.empty()) return absl::InvalidArgumentError(mesh::StrCat(what, " is empty"));
  if (path.size() > limits.max_path_bytes) {
    return absl::InvalidArgumentError(mesh::StrCat(
        what, " is ", path.size(), " bytes long; the limit is ", limits.max_path_bytes));
  }
  MESH_RETURN_IF_ERROR(CheckText(path, what));
  if (path.front() == '/') {
    return absl::InvalidArgumentError(mesh::StrCat(what, " is absolute; paths are relative"));
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view component = path.substr(start, end - start);
    if (component.empty()) {
      return absl::InvalidArgumentError(mesh::StrCat(what, " has an empty component"));
    }
    if (component == "." || component == "..") {
      return absl::InvalidArgumentError(
          mesh::StrCat(what, " has a \"", component, "\" component; paths are normalised"));
    }
    if (component.size() > limits.max_component_bytes) {
      return absl::InvalidArgumentError(mesh::StrCat(what, " has a component of ", component.size(),
                                                     " bytes; the limit is ",
                                                     limits.max_component_bytes));
    }
    start = end + 1;
  }
  return absl::OkStatus();
}

absl::Status CheckManifest(const DirManifest& manifest, const ManifestLimits& limits) {
  if (manifest.entries.size() > limits.max_entries) {
    return absl::ResourceExhaustedError(mesh::StrCat(
        "the tree has ", manifest.entries.size(), " entries; the limit is ", limits.max_entries));
  }
  absl::flat_hash_set<std::string_view> dirs;
  uint64_t total = 0;
  for (size_t i = 0; i < manifest.entries.size(); ++i) {
    const DirEntry& e = manifest.entries[i];
    MESH_RETURN_IF_ERROR(CheckRelativePath(e.path, limits, EntryName(i, e.path) + " path"));
    if (i > 0) {
      const std::string& previous = manifest.entries[i - 1].path;
      if (previous == e.path) return EntryError(i, e.path, "the path is listed twice");
      if (previous > e.path) {
        return EntryError(
            i, e.path,
            "entries are not sorted by path (it follows \"" + previous.substr(0, 200) + "\")");
      }
    }
    const std::string_view parent = ParentPath(e.path);
    if (!parent.empty() && !dirs.contains(parent)) {
      return EntryError(
          i, e.path,
          mesh::StrCat("its parent \"", parent, "\" is not a directory listed before it"));
    }
    switch (e.kind) {
      case EntryKind::kDirectory:
        if (e.cid.has_value() || e.size != 0 || !e.target.empty()) {
          return EntryError(i, e.path, "a directory has no cid, size or target");
        }
        dirs.insert(e.path);
        break;
      case EntryKind::kFile:
        if (!e.cid.has_value() || e.cid->codec() != Codec::kRaw) {
          return EntryError(i, e.path, "a file needs the raw CID of its bytes");
        }
        if (!e.target.empty()) return EntryError(i, e.path, "a file has no target");
        if (e.size > limits.max_total_bytes || total + e.size > limits.max_total_bytes) {
          return absl::ResourceExhaustedError(
              mesh::StrCat(EntryName(i, e.path), ": the files pass ", limits.max_total_bytes,
                           " bytes in all, the limit of a tree"));
        }
        total += e.size;
        break;
      case EntryKind::kSymlink:
        if (e.cid.has_value() || e.size != 0) {
          return EntryError(i, e.path, "a symlink has no cid or size");
        }
        if (e.target.empty() || e.target.size() > limits.max_path_bytes) {
          return EntryError(
              i, e.path,
              mesh::StrCat("a symlink's target must be 1 to ", limits.max_path_bytes, " bytes"));
        }
        MESH_RETURN_IF_ERROR(CheckText(e.target, EntryName(i, e.path) + " target"));
        break;
    }
  }
  return absl::OkStatus();
}

void SortEntries(DirManifest& manifest) {
  std::sort(manifest.entries.begin(), manifest.entries.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.path < b.path; });
}

std::string EncodeManifest(const DirManifest& manifest) {
  json entries = json::array();
  for (const DirEntry& e : manifest.entries) {
    json j = {{"kind", std::string(EntryKindName(e.kind))}, {"path", e.path}};
    if (e.kind == EntryKind::kFile) {
      j["cid"] = {{"/", e.cid->ToString()}};
      j["size"] = e.size;
    }
    if (e.kind == EntryKind::kSymlink) j["target"] = e.target;
    entries.push_back(std::move(j));
  }
  const json manifest_json = {{"entries", std::move(entries)},
                              {"type", std::string(kManifestType)},
                              {"version", kManifestVersion}};
  return manifest_json.dump();
}

absl::StatusOr<DirManifest> ParseManifest(std::string_view bytes, const ManifestLimits& limits) {
  if (bytes.size() > limits.max_manifest_bytes) {
    return absl::ResourceExhaustedError(mesh::StrCat(
        "the manifest is ", bytes.size(), " bytes; the limit is ", limits.max_manifest_bytes));
  }
  json j;
  try {
    j = json::parse(bytes.begin(), bytes.end());
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(mesh::StrCat("the manifest is not valid JSON: ", e.what()));
  }
  if (!j.is_object()) return absl::InvalidArgumentError("the manifest must be a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key != "entries" && key != "type" && key != "version") {
      return absl::InvalidArgumentError(
          mesh::StrCat("the manifest has an unknown field \"", key, "\""));
    }
  }
  if (!j.contains("type") || j["type"] != std::string(kManifestType)) {
    return absl::InvalidArgumentError(mesh::StrCat("the manifest's type must be \"", kManifestType,
                                                   "\" (not a directory manifest)"));
  }
  if (!j.contains("version") || j["version"] != kManifestVersion) {
    return absl::InvalidArgumentError(mesh::StrCat("the manifest's version must be ",
                                                   kManifestVersion,
                                                   "; this node reads no other (upgrade it?)"));
  }
  const auto entries = j.find("entries");
  if (entries == j.end() || !entries->is_array()) {
    return absl::InvalidArgumentError("the manifest's entries must be an array");
  }
  if (entries->size() > limits.max_entries) {
    return absl::ResourceExhaustedError(mesh::StrCat(
        "the manifest has ", entries->size(), " entries; the limit is ", limits.max_entries));
  }
  DirManifest manifest;
  manifest.entries.reserve(entries->size());
  for (size_t i = 0; i < entries->size(); ++i) {
    MESH_ASSIGN_OR_RETURN(DirEntry entry, EntryFromJson((*entries)[i], i));
    manifest.entries.push_back(std::move(entry));
  }
  MESH_RETURN_IF_ERROR(CheckManifest(manifest, limits));
  if (EncodeManifest(manifest) != bytes) {
    return absl::InvalidArgumentError(
        "the manifest is not in canonical form (keys sorted, no whitespace, numbers as "
        "integers); re-encode it, or one tree would have several CIDs");
  }
  return manifest;
}

absl::StatusOr<Cid> PutManifest(BlobStore& store, const DirManifest& manifest,
                                const ManifestLimits& limits) {
  MESH_RETURN_IF_ERROR(CheckManifest(manifest, limits));
  return store.PutBytes(EncodeManifest(manifest), Codec::kDagJson);
}

absl::StatusOr<DirManifest> GetManifest(BlobStore& store, const Cid& cid,
                                        const ManifestLimits& limits) {
  if (cid.codec() != Codec::kDagJson) {
    return absl::InvalidArgumentError(mesh::StrCat(cid.ToString(), " names a ",
                                                   CodecName(cid.codec()),
                                                   " block, not a directory manifest (dag-json)"));
  }
  absl::StatusOr<std::string> bytes = store.Get(cid, limits.max_manifest_bytes);
  if (absl::IsNotFound(bytes.status())) {
    return absl::NotFoundError(
        mesh::StrCat("directory manifest ", cid.ToString(), " is not in this node's blob store"));
  }
  if (absl::IsResourceExhausted(bytes.status())) {
    return absl::ResourceExhaustedError(mesh::StrCat("directory manifest ", cid.ToString(),
                                                     " is larger than the limit of ",
                                                     limits.max_manifest_bytes, " bytes"));
  }
  MESH_RETURN_IF_ERROR(bytes.status());
  absl::StatusOr<DirManifest> manifest = ParseManifest(*bytes, limits);
  if (!manifest.ok()) {
    return absl::Status(
        manifest.status().code(),
        mesh::StrCat("directory manifest ", cid.ToString(), ": ", manifest.status().message()));
  }
  return manifest;
}

}  // namespace mesh::cas
