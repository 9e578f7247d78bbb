// TomlTableReader: reads the keys of one TOML table (toml++) into typed values, naming the file
// and the key in every error ("meshd.toml: mesh.peers must be an array of strings"), and refuses
// keys it does not know. Header-only: include it where toml++ is linked (node config, meshsim
// scenarios). Not thread-safe; holds a reference to the table.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "mesh/common/strings.h"
#include "toml++/toml.h"

namespace mesh {

class TomlTableReader {
 public:
  TomlTableReader(const toml::table& table, std::string file, std::string prefix)
      : table_(table), file_(std::move(file)), prefix_(std::move(prefix)) {}

  absl::Status Known(std::initializer_list<std::string_view> keys) const {
    for (const auto& [key, value] : table_) {
      bool ok = false;
      for (std::string_view k : keys) ok = ok || k == key.str();
      if (!ok) return Error(key.str(), "is not a known setting");
    }
    return absl::OkStatus();
  }

  absl::Status Int(std::string_view key, int& out, int min, int max) const {
    int64_t v = out;
    absl::Status status = Int64(key, v, min, max);
    if (status.ok()) out = static_cast<int>(v);
    return status;
  }

  absl::Status Int64(std::string_view key, int64_t& out, int64_t min, int64_t max) const {
    const toml::node* n = table_.get(key);
    if (n == nullptr) return absl::OkStatus();
    std::optional<int64_t> v = n->is_integer() ? n->value<int64_t>() : std::nullopt;
    if (!v.has_value() || *v < min || *v > max) {
      return Error(key, mesh::StrCat("must be an integer from ", min, " to ", max));
    }
    out = *v;
    return absl::OkStatus();
  }

  absl::Status String(std::string_view key, std::string& out) const {
    const toml::node* n = table_.get(key);
    if (n == nullptr) return absl::OkStatus();
    std::optional<std::string> v = n->is_string() ? n->value<std::string>() : std::nullopt;
    if (!v.has_value()) return Error(key, "must be a string");
    out = *v;
    return absl::OkStatus();
  }

  absl::Status Bool(std::string_view key, bool& out) const {
    const toml::node* n = table_.get(key);
    if (n == nullptr) return absl::OkStatus();
    if (!n->is_boolean()) return Error(key, "must be true or false");
    out = *n->value<bool>();
    return absl::OkStatus();
  }
  absl::Status Strings(std::string_view key, std::vector<std::string>& out) const {
    const toml::node* n = table_.get(key);
    if (n == nullptr) return absl::OkStatus();
    const toml::array* a = n->as_array();
    if (a == nullptr) return Error(key, "must be an array of strings");
    out.clear();
    for (const toml::node& e : *a) {
      if (!e.is_string()) return Error(key, "must be an array of strings");
      out.push_back(*e.value<std::string>());
    }
    return absl::OkStatus();
  }
  // A number (integer or float) from `min` to `max`.
  absl::Status Double(std::string_view key, double& out, double min = 0, double max = 1e6) const {
    const toml::node* n = table_.get(key);
    if (n == nullptr) return absl::OkStatus();
    if (n->is_integer()) {
      out = double(*n->value<int64_t>());
    } else if (n->is_floating_point()) {
      out = *n->value<double>();
    } else {
      return Error(key, "must be a number");
    }
    if (!(out >= min) || !(out <= max)) {
      return Error(key, mesh::StrCat("must be a number from ", min, " to ", max));
    }
    return absl::OkStatus();
  }
  absl::Status Error(std::string_view key, std::string_view what) const {
    return absl::InvalidArgumentError(mesh::StrCat(file_, ": ", prefix_, key, " ", what));
  }

 protected:
  const toml::table& table_;
  std::string file_;
  std::string prefix_;
};

// The sub-table `name` of `root`, or null when it is absent or not a table.
inline const toml::table* TomlSection(const toml::table& root, std::string_view name) {
  const toml::node* n = root.get(name);
  return n != nullptr ? n->as_table() : nullptr;
}

}  // namespace mesh
