#include "mesh/job/split_spec.h"

#include <initializer_list>
#include <limits>
#include <utility>

#include "field_reader.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::job {
namespace {

using nlohmann::json;

// Fields that are not used by `kind` are refused rather than ignored: a "parts" next to
// "kind": "bytes" is a mistake the submitter should hear about, and ignoring it would give one
// split two spellings (two job ids).
absl::Status CheckOnlyKeys(const FieldReader& r, const json& object, std::string_view what,
                           std::string_view kind, std::initializer_list<std::string_view> keys) {
  for (const auto& [key, value] : object.items()) {
    bool used = key == "kind";
    for (std::string_view k : keys) used = used || k == key;
    if (!used) {
      return r.Error(key, mesh::StrCat("does not apply to the ", kind, " ", what,
                                       "; leave it out or change kind"));
    }
  }
  return absl::OkStatus();
}

// A CID that must be present and non-empty.
absl::StatusOr<std::string> RequiredCid(const FieldReader& r, std::string_view key) {
  MESH_ASSIGN_OR_RETURN(std::string cid, r.Cid(key, /*required=*/true));
  if (cid.empty()) return r.Error(key, "must be the CID of a WASM module");
  return cid;
}

// "parts": an integer in 1..kMaxSplitParts.
absl::StatusOr<uint32_t> Parts(const FieldReader& r) {
  const json& v = *r.Find("parts");
  const bool integer = v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() > 0);
  if (!integer || v.get<uint64_t>() < 1 || v.get<uint64_t>() > kMaxSplitParts) {
    return r.Error("parts", mesh::StrCat("must be an integer in 1..", kMaxSplitParts));
  }
  return static_cast<uint32_t>(v.get<uint64_t>());
}

absl::StatusOr<Splitter> SplitterFromJson(const json& j, const std::string& path) {
  FieldReader r(j, path);
  MESH_RETURN_IF_ERROR(r.CheckObject());
  MESH_RETURN_IF_ERROR(r.CheckKnownKeys({"kind", "chunk_bytes", "parts", "separator", "module"}));
  MESH_ASSIGN_OR_RETURN(std::string kind, r.String("kind", /*required=*/true, 16));
  Splitter s;
  if (kind == "bytes") {
    s.kind = Splitter::kBytes;
    MESH_RETURN_IF_ERROR(CheckOnlyKeys(r, j, "splitter", kind, {"chunk_bytes"}));
    MESH_RETURN_IF_ERROR(r.CheckRequiredKeys({"chunk_bytes"}));
    constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
    const json& v = *r.Find("chunk_bytes");
    const bool integer = v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() > 0);
    if (!integer || v.get<uint64_t>() < 1 || v.get<uint64_t>() > kMax) {
      return r.Error("chunk_bytes", mesh::StrCat("must be an integer in 1..", kMax));
    }
    s.chunk_bytes = v.get<uint64_t>();
  } else if (kind == "lines" || kind == "records") {
    s.kind = kind == "lines" ? Splitter::kLines : Splitter::kRecords;
    if (s.kind == Splitter::kLines) {
      MESH_RETURN_IF_ERROR(CheckOnlyKeys(r, j, "splitter", kind, {"parts"}));
    } else {
      MESH_RETURN_IF_ERROR(CheckOnlyKeys(r, j, "splitter", kind, {"parts", "separator"}));
    }
    MESH_RETURN_IF_ERROR(r.CheckRequiredKeys({"parts"}));
    MESH_ASSIGN_OR_RETURN(s.parts, Parts(r));
    if (r.Find("separator") != nullptr) {
      const json& sep = *r.Find("separator");
      if (!sep.is_string() || sep.get_ref<const std::string&>().empty() ||
          sep.get_ref<const std::string&>().size() > kMaxSeparatorBytes) {
        return r.Error("separator",
                       mesh::StrCat("must be a string of 1..", kMaxSeparatorBytes, " bytes"));
      }
      s.separator = sep.get<std::string>();
    }
  } else if (kind == "wasm") {
    s.kind = Splitter::kWasm;
    MESH_RETURN_IF_ERROR(CheckOnlyKeys(r, j, "splitter", kind, {"module", "parts"}));
    MESH_ASSIGN_OR_RETURN(s.module, RequiredCid(r, "module"));
    if (r.Find("parts") != nullptr) {
      MESH_ASSIGN_OR_RETURN(s.parts, Parts(r));
    }
  } else if (kind == "segments") {
    s.kind = Splitter::kSegments;
    MESH_RETURN_IF_ERROR(CheckOnlyKeys(r, j, "splitter", kind, {}));
  } else {
    return r.Error("kind", "must be one of bytes, lines, records, wasm, segments");
  }
  return s;
}

absl::StatusOr<Merger> MergerFromJson(const json& j, const std::string& path) {
  FieldReader r(j, path);
  MESH_RETURN_IF_ERROR(r.CheckObject());
  MESH_RETURN_IF_ERROR(r.CheckKnownKeys({"kind", "module"}));
  MESH_ASSIGN_OR_RETURN(std::string kind, r.String("kind", /*required=*/true, 16));
  Merger m;
  if (kind == "concat") {
    m.kind = Merger::kConcat;
    MESH_RETURN_IF_ERROR(CheckOnlyKeys(r, j, "merger", kind, {}));
  } else if (kind == "wasm") {
    m.kind = Merger::kWasm;
    MESH_ASSIGN_OR_RETURN(m.module, RequiredCid(r, "module"));
  } else {
    return r.Error("kind", "must be one of concat, wasm");
  }
  return m;
}

}  // namespace

std::string_view SplitterKindName(Splitter::Kind kind) {
  switch (kind) {
    case Splitter::kBytes:
      return "bytes";
    case Splitter::kLines:
      return "lines";
    case Splitter::kRecords:
      return "records";
    case Splitter::kWasm:
      return "wasm";
    case Splitter::kSegments:
      return "segments";
  }
  return "unknown";
}

std::string_view MergerKindName(Merger::Kind kind) {
  switch (kind) {
    case Merger::kConcat:
      return "concat";
    case Merger::kWasm:
      return "wasm";
  }
  return "unknown";
}

json ToJson(const SplitSpec& split) {
  const Splitter& s = split.splitter;
  json splitter = {{"kind", SplitterKindName(s.kind)}};
  switch (s.kind) {
    case Splitter::kBytes:
      splitter["chunk_bytes"] = s.chunk_bytes;
      break;
    case Splitter::kLines:
      splitter["parts"] = s.parts;
      break;
    case Splitter::kRecords:
      splitter["parts"] = s.parts;
      if (s.separator != kDefaultSeparator) splitter["separator"] = s.separator;
      break;
    case Splitter::kWasm:
      splitter["module"] = s.module;
      if (s.parts != 1) splitter["parts"] = s.parts;
      break;
    case Splitter::kSegments:
      break;
  }
  json merge = {{"kind", MergerKindName(split.merger.kind)}};
  if (split.merger.kind == Merger::kWasm) merge["module"] = split.merger.module;
  json j = {{"splitter", std::move(splitter)}, {"merge", std::move(merge)}};
  if (!split.chunk_module.empty()) j["chunk_module"] = split.chunk_module;
  return j;
}

absl::StatusOr<SplitSpec> SplitSpecFromJson(const json& j, std::string_view path) {
  FieldReader r(j, std::string(path));
  MESH_RETURN_IF_ERROR(r.CheckObject());
  MESH_RETURN_IF_ERROR(r.CheckKnownKeys({"splitter", "chunk_module", "merge"}));
  MESH_RETURN_IF_ERROR(r.CheckRequiredKeys({"splitter"}));
  SplitSpec split;
  MESH_ASSIGN_OR_RETURN(split.splitter,
                        SplitterFromJson(*r.Find("splitter"), r.PathOf("splitter")));
  if (r.Find("chunk_module") != nullptr) {
    MESH_ASSIGN_OR_RETURN(split.chunk_module, RequiredCid(r, "chunk_module"));
  }
  if (const json* merge = r.Find("merge"); merge != nullptr) {
    MESH_ASSIGN_OR_RETURN(split.merger, MergerFromJson(*merge, r.PathOf("merge")));
  }
  return split;
}

}  // namespace mesh::job
