// FieldReader: reads the fields of one JSON object from an untrusted source, checking each
// type and range; every error is InvalidArgument and names the JSON path of the field
// ("/limits/fuel: must be a non-negative integer"). Internal to the job module. Holds a
// reference to the object: it must outlive the reader.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mesh/job/market.h"
#include "nlohmann/json.hpp"

namespace mesh::job {

inline constexpr size_t kMaxNames = kMaxAdvertisedNames;

// Parses JSON from an untrusted source. Never throws: a syntax error or a number out of
// double's range ("1e400", which nlohmann reports as out_of_range.406) is InvalidArgument
// naming `what` and the parser's reason. nlohmann's parser and destructor are iterative, so
// nesting depth costs heap, bounded by the text's size, not stack.
absl::StatusOr<nlohmann::json> ParseUntrustedJson(std::string_view text, std::string_view what);

class FieldReader {
 public:
  // `path` is the JSON path of the object itself: "" for the root, "/limits" for a member.
  FieldReader(const nlohmann::json& object, std::string path)
      : object_(object), path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  std::string PathOf(std::string_view key) const;

  absl::Status CheckObject() const;
  absl::Status CheckKnownKeys(std::initializer_list<std::string_view> keys) const;
  absl::Status CheckRequiredKeys(std::initializer_list<std::string_view> keys) const;

  // The member, or nullptr when it is absent or null.
  const nlohmann::json* Find(std::string_view key) const;

  // Absent fields read as "" / 0 / false / empty unless `required`.
  absl::StatusOr<std::string> String(std::string_view key, bool required, size_t max = 4096) const;
  absl::StatusOr<uint64_t> Unsigned(std::string_view key, uint64_t max) const;
  absl::StatusOr<int64_t> Signed(std::string_view key, int64_t min, int64_t max) const;
  // Finite numbers in [min, max]; integers are accepted, booleans are not.
  absl::StatusOr<double> Double(std::string_view key, double min, double max) const;
  absl::StatusOr<bool> Bool(std::string_view key, bool fallback) const;
  absl::StatusOr<std::vector<std::string>> Strings(std::string_view key, size_t max_items,
                                                   size_t max_length = 4096) const;
  absl::StatusOr<std::map<std::string, std::string>> StringMap(std::string_view key,
                                                               size_t max_items) const;
  // A did:key (crypto::DidKey::Parse) / a CID (cas::Cid::Parse).
  absl::StatusOr<std::string> Did(std::string_view key, bool required) const;
  absl::StatusOr<std::string> Cid(std::string_view key, bool required) const;
  absl::StatusOr<std::vector<std::string>> Dids(std::string_view key, size_t max_items) const;
  // Capability or federation names (IsValidName), at most kMaxNames.
  absl::StatusOr<std::vector<std::string>> Names(std::string_view key) const;

  absl::Status Error(std::string_view key, std::string_view what) const;

 private:
  const nlohmann::json& object_;
  std::string path_;
};

}  // namespace mesh::job
