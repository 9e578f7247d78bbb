#include "mesh/job/job_spec.h"

#include <limits>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::job {
namespace {

using nlohmann::json;

// Reads fields of one JSON object; every error names the JSON path of the field.
class FieldReader {
 public:
  FieldReader(const json& object, std::string path) : object_(object), path_(std::move(path)) {}

  absl::Status CheckObject() const {
    if (!object_.is_object()) return Error("", "must be an object");
    return absl::OkStatus();
  }

  absl::Status CheckKnownKeys(std::initializer_list<std::string_view> keys) const {
    for (const auto& [key, value] : object_.items()) {
      bool known = false;
      for (std::string_view k : keys) known = known || k == key;
      if (!known) return Error(key, "unknown field");
    }
    return absl::OkStatus();
  }

  const json* Find(std::string_view key) const {
    auto it = object_.find(std::string(key));
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }

  absl::StatusOr<std::string> String(std::string_view key, bool required, size_t max = 4096) const {
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

  absl::StatusOr<uint64_t> Unsigned(std::string_view key, uint64_t max) const {
    const json* v = Find(key);
    if (v == nullptr) return 0;
    if (!v->is_number_integer() ||
        (v->is_number_integer() && !v->is_number_unsigned() && v->get<int64_t>() < 0)) {
      return Error(key, "must be a non-negative integer");
    }
    const uint64_t n = v->get<uint64_t>();
    if (n > max) return Error(key, mesh::StrCat("must be at most ", max));
    return n;
  }

  absl::StatusOr<int64_t> Signed(std::string_view key, int64_t min, int64_t max) const {
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

  absl::StatusOr<bool> Bool(std::string_view key, bool fallback) const {
    const json* v = Find(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) return Error(key, "must be true or false");
    return v->get<bool>();
  }

  absl::StatusOr<std::vector<std::string>> Strings(std::string_view key, size_t max_items) const {
    std::vector<std::string> out;
    const json* v = Find(key);
    if (v == nullptr) return out;
    if (!v->is_array()) return Error(key, "must be an array of strings");
    if (v->size() > max_items)
      return Error(key, mesh::StrCat("has more than ", max_items, " items"));
    for (size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string()) return Error(mesh::StrCat(key, "/", i), "must be a string");
      out.push_back((*v)[i].get<std::string>());
    }
    return out;
  }

  absl::StatusOr<std::map<std::string, std::string>> StringMap(std::string_view key,
                                                               size_t max_items) const {
    std::map<std::string, std::string> out;
    const json* v = Find(key);
    if (v == nullptr) return out;
    if (!v->is_object()) return Error(key, "must be an object of strings");
    if (v->size() > max_items)
      return Error(key, mesh::StrCat("has more than ", max_items, " keys"));
    for (const auto& [k, value] : v->items()) {
      if (k.empty()) return Error(key, "has an empty key");
      if (!value.is_string()) return Error(mesh::StrCat(key, "/", k), "must be a string");
      out.emplace(k, value.get<std::string>());
    }
    return out;
  }

  absl::Status Error(std::string_view key, std::string_view what) const {
    return absl::InvalidArgumentError(mesh::StrCat(path_, key.empty() ? "" : "/", key, ": ", what));
  }

 private:
  const json& object_;
  std::string path_;
};

absl::Status CheckCid(const FieldReader& r, std::string_view key, const std::string& text) {
  if (absl::StatusOr<cas::Cid> cid = cas::Cid::Parse(text); !cid.ok()) {
    return r.Error(key, ToStd(cid.status().message()));
  }
  return absl::OkStatus();
}

}  // namespace

json ToJson(const JobSpec& spec) {
  json env = json::object();
  for (const auto& [k, v] : spec.env) env[k] = v;
  json j = {
      {"module", spec.module},
      {"inputs", spec.inputs},
      {"args", spec.args},
      {"env", env},
      {"limits",
       {{"fuel", spec.limits.fuel},
        {"memory_bytes", spec.limits.memory_bytes},
        {"wall_time_ms", spec.limits.wall_time_ms},
        {"max_output_bytes", spec.limits.max_output_bytes}}},
      {"priority", spec.priority},
      {"labels", spec.labels},
      {"deterministic", spec.deterministic},
  };
  if (!spec.submitter.empty()) j["submitter"] = spec.submitter;
  if (spec.created_at_ms != 0) j["created_at_ms"] = spec.created_at_ms;
  if (!spec.nonce.empty()) j["nonce"] = spec.nonce;
  return j;
}

absl::StatusOr<JobSpec> JobSpecFromJson(const json& j, bool require_identity) {
  FieldReader r(j, "");
  MESH_RETURN_IF_ERROR(r.CheckObject());
  MESH_RETURN_IF_ERROR(
      r.CheckKnownKeys({"module", "inputs", "args", "env", "limits", "priority", "labels",
                        "deterministic", "submitter", "created_at_ms", "nonce"}));
  JobSpec spec;
  MESH_ASSIGN_OR_RETURN(spec.module, r.String("module", true, 128));
  MESH_RETURN_IF_ERROR(CheckCid(r, "module", spec.module));
  MESH_ASSIGN_OR_RETURN(spec.inputs, r.Strings("inputs", kMaxInputs));
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    MESH_RETURN_IF_ERROR(CheckCid(r, mesh::StrCat("inputs/", i), spec.inputs[i]));
  }
  MESH_ASSIGN_OR_RETURN(spec.args, r.Strings("args", kMaxArgs));
  MESH_ASSIGN_OR_RETURN(auto env, r.StringMap("env", kMaxArgs));
  for (auto& [k, v] : env) {
    if (k.find('=') != std::string::npos) return r.Error("env/" + k, "name must not contain '='");
    spec.env.emplace_back(k, std::move(v));
  }
  if (const json* limits = r.Find("limits"); limits != nullptr) {
    FieldReader lr(*limits, "/limits");
    MESH_RETURN_IF_ERROR(lr.CheckObject());
    MESH_RETURN_IF_ERROR(
        lr.CheckKnownKeys({"fuel", "memory_bytes", "wall_time_ms", "max_output_bytes"}));
    constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
    MESH_ASSIGN_OR_RETURN(spec.limits.fuel, lr.Unsigned("fuel", kMax));
    MESH_ASSIGN_OR_RETURN(spec.limits.memory_bytes, lr.Unsigned("memory_bytes", 1ull << 32));
    MESH_ASSIGN_OR_RETURN(spec.limits.wall_time_ms, lr.Unsigned("wall_time_ms", 7 * 86400000ull));
    MESH_ASSIGN_OR_RETURN(spec.limits.max_output_bytes, lr.Unsigned("max_output_bytes", kMax));
  }
  MESH_ASSIGN_OR_RETURN(int64_t priority, r.Signed("priority", kMinPriority, kMaxPriority));
  spec.priority = static_cast<int>(priority);
  MESH_ASSIGN_OR_RETURN(spec.labels, r.StringMap("labels", kMaxLabels));
  MESH_ASSIGN_OR_RETURN(spec.deterministic, r.Bool("deterministic", true));
  MESH_ASSIGN_OR_RETURN(spec.submitter, r.String("submitter", require_identity, 128));
  MESH_ASSIGN_OR_RETURN(spec.created_at_ms,
                        r.Signed("created_at_ms", 0, std::numeric_limits<int64_t>::max()));
  MESH_ASSIGN_OR_RETURN(spec.nonce, r.String("nonce", require_identity, 64));
  if (require_identity && spec.created_at_ms == 0) return r.Error("created_at_ms", "is required");
  return spec;
}

std::string CanonicalJson(const JobSpec& spec) { return ToJson(spec).dump(); }

SignedJobSpec SignJobSpec(JobSpec spec, const crypto::KeyPair& key) {
  spec.submitter = key.did().ToString();
  std::string envelope =
      crypto::Envelope::Seal(key, kJobSpecPayloadType, CanonicalJson(spec)).Serialize();
  cas::Cid id = cas::Cid::Of(envelope);
  return SignedJobSpec{std::move(spec), std::move(envelope), id};
}

absl::StatusOr<SignedJobSpec> OpenJobSpec(std::string_view envelope_bytes) {
  MESH_ASSIGN_OR_RETURN(
      crypto::Envelope envelope,
      crypto::Envelope::Open(envelope_bytes, kJobSpecPayloadType, std::nullopt, kMaxSpecBytes));
  json j = json::parse(envelope.payload(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("job spec payload is not valid JSON");
  MESH_ASSIGN_OR_RETURN(JobSpec spec, JobSpecFromJson(j, /*require_identity=*/true));
  if (spec.submitter != envelope.signer().ToString()) {
    return absl::PermissionDeniedError(mesh::StrCat("job spec names submitter ", spec.submitter,
                                                    " but is signed by ",
                                                    envelope.signer().ToString()));
  }
  return SignedJobSpec{std::move(spec), std::string(envelope_bytes), cas::Cid::Of(envelope_bytes)};
}

}  // namespace mesh::job
