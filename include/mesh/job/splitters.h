// The built-in splitters and merger of a split job (split_spec.h): pure functions over bytes.
// A splitter returns views into `data` (the caller keeps `data` alive while it uses them); the
// chunks, concatenated in order, are `data` byte for byte, and line and record splitters never
// cut a line or record. Stateless and thread-safe.
//
// Empty input gives ONE empty chunk, not zero: the chunk module still runs once (a job over an
// empty input has an output, e.g. a count of 0), and a split job always has at least one Merkle
// leaf (verify/merkle_tree.h refuses an empty tree).
//
// Every splitter makes at most kMaxSplitParts chunks; arguments out of range are InvalidArgument.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "mesh/job/split_spec.h"

namespace mesh::job {

// Chunks of `chunk_bytes` (>= 1) bytes; the last one may be shorter. Refuses inputs that would
// make more than kMaxSplitParts chunks (the error says which chunk_bytes would do).
absl::StatusOr<std::vector<std::string_view>> SplitFixed(std::string_view data,
                                                         uint64_t chunk_bytes);

// Records end with `separator` (1..kMaxSeparatorBytes bytes, matched left to right without
// overlap), which stays with the record before it; a final record without a separator is kept.
// Makes min(parts, records) parts (parts in 1..kMaxSplitParts) of whole records, each cut placed
// at the record boundary nearest an equal share of the bytes. Data without any separator is one
// record, so one part.
absl::StatusOr<std::vector<std::string_view>> SplitRecords(std::string_view data, uint32_t parts,
                                                           std::string_view separator);
// SplitRecords with separator "\n".
absl::StatusOr<std::vector<std::string_view>> SplitLines(std::string_view data, uint32_t parts);

// Dispatches the built-in splitters. kWasm is FailedPrecondition: a user split module runs in
// the sandbox, not here.
absl::StatusOr<std::vector<std::string_view>> Split(const Splitter& splitter,
                                                    std::string_view data);

// The chunk outputs, in chunk order, end to end.
std::string MergeConcat(const std::vector<std::string>& ordered_outputs);

// Frames: how Mesh and user split and merge modules pass a list of chunks through one stream.
// Each chunk is a little-endian uint32 length followed by that many bytes, end to end; nothing
// else. A split module writes its chunks so on stdout; a merge module reads the chunk outputs
// so on stdin.
std::string EncodeFrames(const std::vector<std::string_view>& chunks);
// Views into `data`. InvalidArgument for a truncated length or chunk (naming its index and
// offset), no frames at all, or more than kMaxSplitParts frames.
absl::StatusOr<std::vector<std::string_view>> DecodeFrames(std::string_view data);

}  // namespace mesh::job
