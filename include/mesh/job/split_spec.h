// SplitSpec: how a big job is split into chunks, which module runs on each chunk, and how the
// chunk outputs are merged (JobSpec::split). Plain value types; the functions are pure and
// thread-safe. SplitSpecFromJson reads untrusted JSON and names the JSON path of a bad field
// ("/split/splitter/parts: must be an integer in 1..100000").
//
// JSON form (every object rejects unknown fields, and fields that do not apply to its kind):
//
//   "split": {
//     "splitter": {"kind": "bytes",   "chunk_bytes": 1048576}      // fixed-size chunks
//               | {"kind": "lines",   "parts": 10}                 // N parts, whole lines
//               | {"kind": "records", "parts": 10, "separator": "\u0000"}  // default "\n"
//               | {"kind": "wasm",    "module": "bafy...", "parts": 10},  // a user split
//                                          // module; parts (optional, default 1) is a hint
//               | {"kind": "segments"}     // the first input is a stored file: one chunk per
//                                          // segment, each reading only that segment's shards
//     "chunk_module": "bafy...",   // optional: the module run per chunk; absent = the job's
//     "merge": {"kind": "concat"}  // optional, the default | {"kind": "wasm", "module": "bafy..."}
//   }
//
// ToJson writes one spelling: only the fields of the kind, the separator only when it is not
// "\n", chunk_module only when set, merge always. So two ways of writing the same split give
// the same canonical JSON, and the same job id.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace mesh::job {

// At most this many chunks per job, for every splitter: each chunk is a task with its own bid,
// receipt and Merkle leaf.
inline constexpr uint32_t kMaxSplitParts = 100000;
inline constexpr size_t kMaxSeparatorBytes = 16;
inline constexpr std::string_view kDefaultSeparator = "\n";

struct Splitter {
  enum Kind { kBytes, kLines, kRecords, kWasm, kSegments };
  Kind kind = kLines;
  uint64_t chunk_bytes = 0;  // kBytes: bytes per chunk (the last may be shorter), >= 1
  uint32_t parts = 1;        // kLines, kRecords: into min(parts, lines) parts, 1..kMaxSplitParts;
                             // kWasm: a hint the module gets as MESH_SPLIT_PARTS
  std::string separator = std::string(kDefaultSeparator);  // kRecords: 1..16 bytes
  std::string module;                                      // kWasm: CID of the split module

  friend bool operator==(const Splitter&, const Splitter&) = default;
};

struct Merger {
  enum Kind { kConcat, kWasm };
  Kind kind = kConcat;
  std::string module;  // kWasm: CID of the merge module

  friend bool operator==(const Merger&, const Merger&) = default;
};

struct SplitSpec {
  Splitter splitter;
  std::string chunk_module;  // CID; empty = the job's module
  Merger merger;

  friend bool operator==(const SplitSpec&, const SplitSpec&) = default;
};

// "bytes", "lines", "records", "wasm", "segments" / "concat", "wasm".
std::string_view SplitterKindName(Splitter::Kind kind);
std::string_view MergerKindName(Merger::Kind kind);

nlohmann::json ToJson(const SplitSpec& split);
// `path` is the JSON path of the object ("/split"); errors are InvalidArgument and name it.
absl::StatusOr<SplitSpec> SplitSpecFromJson(const nlohmann::json& json, std::string_view path);

}  // namespace mesh::job
