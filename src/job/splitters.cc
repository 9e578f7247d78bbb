#include "mesh/job/splitters.h"

#include <algorithm>

#include "absl/status/status.h"
#include "mesh/common/strings.h"

namespace mesh::job {
namespace {

// floor(total * i / parts) without overflow for any 64-bit total (parts <= kMaxSplitParts).
uint64_t Share(uint64_t total, uint64_t i, uint64_t parts) {
  return total / parts * i + total % parts * i / parts;
}

// Scans the records of `data` left to right; Next() returns the end offset of the next record
// (just past its separator, or data.size() for a final record without one).
class RecordCursor {
 public:
  RecordCursor(std::string_view data, std::string_view separator)
      : data_(data), separator_(separator) {}

  bool Done() const { return pos_ >= data_.size(); }
  size_t Next() {
    const size_t at = data_.find(separator_, pos_);
    pos_ = at == std::string_view::npos ? data_.size() : at + separator_.size();
    return pos_;
  }

 private:
  std::string_view data_;
  std::string_view separator_;
  size_t pos_ = 0;
};

uint64_t CountRecords(std::string_view data, std::string_view separator) {
  RecordCursor cursor(data, separator);
  uint64_t n = 0;
  while (!cursor.Done()) {
    cursor.Next();
    ++n;
  }
  return n;
}

}  // namespace

absl::StatusOr<std::vector<std::string_view>> SplitFixed(std::string_view data,
                                                         uint64_t chunk_bytes) {
  if (chunk_bytes == 0) {
    return absl::InvalidArgumentError("chunk_bytes must be at least 1");
  }
  if (data.empty()) return std::vector<std::string_view>{data};
  const uint64_t chunks = data.size() / chunk_bytes + (data.size() % chunk_bytes != 0 ? 1 : 0);
  if (chunks > kMaxSplitParts) {
    const uint64_t needed = data.size() / kMaxSplitParts + (data.size() % kMaxSplitParts != 0);
    return absl::InvalidArgumentError(mesh::StrCat(
        "splitting ", data.size(), " bytes into chunks of ", chunk_bytes, " bytes makes ", chunks,
        " chunks, more than ", kMaxSplitParts, "; set chunk_bytes to at least ", needed));
  }
  std::vector<std::string_view> out;
  out.reserve(chunks);
  for (size_t pos = 0; pos < data.size(); pos += chunk_bytes) {
    out.push_back(data.substr(pos, chunk_bytes));
  }
  return out;
}

absl::StatusOr<std::vector<std::string_view>> SplitRecords(std::string_view data, uint32_t parts,
                                                           std::string_view separator) {
  if (parts < 1 || parts > kMaxSplitParts) {
    return absl::InvalidArgumentError(
        mesh::StrCat("parts must be in 1..", kMaxSplitParts, ", got ", parts));
  }
  if (separator.empty() || separator.size() > kMaxSeparatorBytes) {
    return absl::InvalidArgumentError(mesh::StrCat(
        "the record separator must be 1..", kMaxSeparatorBytes, " bytes, got ", separator.size()));
  }
  if (data.empty()) return std::vector<std::string_view>{data};
  const uint64_t records = CountRecords(data, separator);
  const uint64_t k = std::min<uint64_t>(parts, records);
  std::vector<std::string_view> out;
  out.reserve(k);
  // Cut i (1..k-1) ends the record nearest byte Share(size, i, k), clamped so every part keeps
  // at least one record: after record index prev+1 at the earliest, and early enough to leave
  // k - i records for the parts after it. One forward pass: O(size) time, O(k) memory.
  RecordCursor cursor(data, separator);
  uint64_t index = 1;          // records ended by `end`
  size_t end = cursor.Next();  // end of record `index`
  size_t cut = 0;              // start of the current part
  for (uint64_t i = 1; i < k; ++i) {
    const uint64_t target = Share(data.size(), i, k);
    const uint64_t max_index = records - (k - i);
    size_t before = end;  // end of the record before `end`, when we move past it
    bool moved = false;
    while (index < max_index && end < target) {
      before = end;
      end = cursor.Next();
      ++index;
      moved = true;
    }
    // `end` is the first record end >= target (or the last allowed). Step back one record when
    // that end is nearer the target and still leaves this part a record of its own.
    size_t chosen = end;
    if (moved && end >= target && target - before < end - target && before > cut) {
      chosen = before;
    }
    out.push_back(data.substr(cut, chosen - cut));
    cut = chosen;
    if (chosen == end) {
      // The next part starts after `end`: move to the next record for the next cut.
      end = cursor.Next();
      ++index;
    }
  }
  out.push_back(data.substr(cut));
  return out;
}

absl::StatusOr<std::vector<std::string_view>> SplitLines(std::string_view data, uint32_t parts) {
  return SplitRecords(data, parts, kDefaultSeparator);
}

absl::StatusOr<std::vector<std::string_view>> Split(const Splitter& splitter,
                                                    std::string_view data) {
  switch (splitter.kind) {
    case Splitter::kBytes:
      return SplitFixed(data, splitter.chunk_bytes);
    case Splitter::kLines:
      return SplitLines(data, splitter.parts);
    case Splitter::kRecords:
      return SplitRecords(data, splitter.parts, splitter.separator);
    case Splitter::kWasm:
      return absl::FailedPreconditionError("a WASM splitter runs in the sandbox, not here");
    case Splitter::kSegments:
      return absl::FailedPreconditionError(
          "a split over segments follows the stored file's manifest, not its bytes");
  }
  return absl::InvalidArgumentError("unknown splitter kind");
}

std::string MergeConcat(const std::vector<std::string>& ordered_outputs) {
  size_t total = 0;
  for (const std::string& output : ordered_outputs) total += output.size();
  std::string merged;
  merged.reserve(total);
  for (const std::string& output : ordered_outputs) merged += output;
  return merged;
}

std::string EncodeFrames(const std::vector<std::string_view>& chunks) {
  size_t total = 0;
  for (std::string_view chunk : chunks) total += 4 + chunk.size();
  std::string out;
  out.reserve(total);
  for (std::string_view chunk : chunks) {
    const uint32_t n = static_cast<uint32_t>(chunk.size());
    for (int b = 0; b < 4; ++b) out.push_back(static_cast<char>((n >> (8 * b)) & 0xff));
    out.append(chunk);
  }
  return out;
}

absl::StatusOr<std::vector<std::string_view>> DecodeFrames(std::string_view data) {
  std::vector<std::string_view> frames;
  size_t at = 0;
  while (at < data.size()) {
    if (frames.size() == kMaxSplitParts) {
      return absl::InvalidArgumentError(
          mesh::StrCat("more than ", kMaxSplitParts, " frames (the most chunks a job may have)"));
    }
    if (data.size() - at < 4) {
      return absl::InvalidArgumentError(mesh::StrCat("frame ", frames.size(), " at byte ", at,
                                                     ": truncated length (", data.size() - at,
                                                     " of 4 bytes)"));
    }
    uint32_t n = 0;
    for (int b = 3; b >= 0; --b) n = n << 8 | static_cast<uint8_t>(data[at + b]);
    at += 4;
    if (data.size() - at < n) {
      return absl::InvalidArgumentError(mesh::StrCat("frame ", frames.size(), " at byte ", at - 4,
                                                     ": says ", n, " bytes, ", data.size() - at,
                                                     " left"));
    }
    frames.push_back(data.substr(at, n));
    at += n;
  }
  if (frames.empty()) return absl::InvalidArgumentError("no frames (an empty stream)");
  return frames;
}

}  // namespace mesh::job
