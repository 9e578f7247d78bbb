#include "field_reader.h"

#include <cmath>

#include "mesh/cas/cid.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/did_key.h"

namespace mesh::job {

using nlohmann::json;

namespace {
// did:key of an Ed25519 key is 56 characters; the cap leaves room, not for abuse.
constexpr size_t kMaxDidLength = 128;
constexpr size_t kMaxCidLength = 128;
}  // namespace

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string FieldReader::PathOf(std::string_view key) const {
  return key.empty() ? path_ : mesh::StrCat(path_, "/", key);
}

absl::Status FieldReader::CheckObject() const {
  if (!object_.is_object()) return Error("", "must be an object");
  return absl::OkStatus();
}

absl::Status FieldReader::CheckKnownKeys(std::initializer_list<std::string_view> keys) const {
  for (const auto& [key, value] : object_.items()) {
    bool known = false;
    for (std::string_view k : keys) known = known || k == key;
    if (!known) return Error(key, "unknown field");
  }
  return absl::OkStatus();
}

absl::Status FieldReader::CheckRequiredKeys(std::initializer_list<std::string_view> keys) const {
  for (std::string_view k : keys) {
    if (Find(k) == nullptr) return Error(k, "is required");
  }
  return absl::OkStatus();
}

const json* FieldReader::Find(std::string_view key) const {
  auto it = object_.find(std::string(key));
  return it == object_.end() || it->is_null() ? nullptr : &*it;
}

absl::StatusOr<std::string> FieldReader::String(std::string_view key, bool required,
                                                size_t max) const {
  const json* v = Find(key);
  if (v == nullptr) {
    if (required) return Error(key, "is required");
    return std::string();
  }
  if (!v->is_string()) return Error(key, "must be a string");
  std::string s = v->get<std::string>();
  if (s.size() > max) return Error(key, mesh::StrCat("is longer than ", max, " bytes"));
  return s;
}

absl::StatusOr<uint64_t> FieldReader::Unsigned(std::string_view key, uint64_t max) const {
  const json* v = Find(key);
  if (v == nullptr) return 0;
  if (!v->is_number_integer() || (!v->is_number_unsigned() && v->get<int64_t>() < 0)) {
    return Error(key, "must be a non-negative integer");
  }
  const uint64_t n = v->get<uint64_t>();
  if (n > max) return Error(key, mesh::StrCat("must be at most ", max));
  return n;
}

absl::StatusOr<int64_t> FieldReader::Signed(std::string_view key, int64_t min, int64_t max) const {
  const json* v = Find(key);
  if (v == nullptr) return 0;
  if (!v->is_number_integer()) return Error(key, "must be an integer");
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(max)) {
    return Error(key, mesh::StrCat("must be between ", min, " and ", max));
  }
  const int64_t n = v->get<int64_t>();
  if (n < min || n > max) return Error(key, mesh::StrCat("must be between ", min, " and ", max));
  return n;
}

absl::StatusOr<double> FieldReader::Double(std::string_view key, double min, double max) const {
  const json* v = Find(key);
  if (v == nullptr) return 0.0;
  if (!v->is_number()) return Error(key, "must be a number");
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < min || d > max) {
    return Error(key, mesh::StrCat("must be a number between ", min, " and ", max));
  }
  return d;
}

absl::StatusOr<bool> FieldReader::Bool(std::string_view key, bool fallback) const {
  const json* v = Find(key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) return Error(key, "must be true or false");
  return v->get<bool>();
}

absl::StatusOr<std::vector<std::string>> FieldReader::Strings(std::string_view key,
                                                              size_t max_items,
                                                              size_t max_length) const {
  std::vector<std::string> out;
  const json* v = Find(key);
  if (v == nullptr) return out;
  if (!v->is_array()) return Error(key, "must be an array of strings");
  if (v->size() > max_items) return Error(key, mesh::StrCat("has more than ", max_items, " items"));
  for (size_t i = 0; i < v->size(); ++i) {
    const json& item = (*v)[i];
    if (!item.is_string()) return Error(mesh::StrCat(key, "/", i), "must be a string");
    if (item.get_ref<const std::string&>().size() > max_length) {
      return Error(mesh::StrCat(key, "/", i),
                   mesh::StrCat("is longer than ", max_length, " bytes"));
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> FieldReader::StringMap(std::string_view key,
                                                                          size_t max_items) const {
  std::map<std::string, std::string> out;
  const json* v = Find(key);
  if (v == nullptr) return out;
  if (!v->is_object()) return Error(key, "must be an object of strings");
  if (v->size() > max_items) return Error(key, mesh::StrCat("has more than ", max_items, " keys"));
  for (const auto& [k, value] : v->items()) {
    if (k.empty()) return Error(key, "has an empty key");
    if (!value.is_string()) return Error(mesh::StrCat(key, "/", k), "must be a string");
    out.emplace(k, value.get<std::string>());
  }
  return out;
}

absl::StatusOr<std::string> FieldReader::Did(std::string_view key, bool required) const {
  absl::StatusOr<std::string> text = String(key, required, kMaxDidLength);
  if (!text.ok() || (text->empty() && !required)) return text;
  if (auto did = crypto::DidKey::Parse(*text); !did.ok()) {
    return Error(key, ToStd(did.status().message()));
  }
  return text;
}

absl::StatusOr<std::string> FieldReader::Cid(std::string_view key, bool required) const {
  absl::StatusOr<std::string> text = String(key, required, kMaxCidLength);
  if (!text.ok() || (text->empty() && !required)) return text;
  if (auto cid = cas::Cid::Parse(*text); !cid.ok()) {
    return Error(key, ToStd(cid.status().message()));
  }
  return text;
}

absl::StatusOr<std::vector<std::string>> FieldReader::Dids(std::string_view key,
                                                           size_t max_items) const {
  absl::StatusOr<std::vector<std::string>> dids = Strings(key, max_items, kMaxDidLength);
  if (!dids.ok()) return dids;
  for (size_t i = 0; i < dids->size(); ++i) {
    if (auto did = crypto::DidKey::Parse((*dids)[i]); !did.ok()) {
      return Error(mesh::StrCat(key, "/", i), ToStd(did.status().message()));
    }
  }
  return dids;
}

absl::StatusOr<std::vector<std::string>> FieldReader::Names(std::string_view key) const {
  absl::StatusOr<std::vector<std::string>> names = Strings(key, kMaxNames, kMaxNameLength);
  if (!names.ok()) return names;
  for (size_t i = 0; i < names->size(); ++i) {
    if (!IsValidName((*names)[i])) {
      return Error(mesh::StrCat(key, "/", i),
                   mesh::StrCat("must be 1 to ", kMaxNameLength,
                                " characters of letters, digits, '.', '_', ':' and '-'"));
    }
  }
  return names;
}

absl::StatusOr<nlohmann::json> ParseUntrustedJson(std::string_view text, std::string_view what) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(mesh::StrCat(what, " is not valid JSON: ", e.what()));
  }
}

absl::Status FieldReader::Error(std::string_view key, std::string_view what) const {
  return absl::InvalidArgumentError(mesh::StrCat(PathOf(key), ": ", what));
}

}  // namespace mesh::job
