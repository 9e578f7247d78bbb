#include "mesh/job/job_spec.h"

#include <limits>

#include "field_reader.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/storage/store_file.h"
#include "mesh/verify/verification_policy.h"

namespace mesh::job {
namespace {

using nlohmann::json;

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
  // Omitted at their defaults so specs written before these fields keep their bytes and ids.
  if (!(spec.requirements == Requirements())) j["requirements"] = ToJson(spec.requirements);
  if (spec.placement != kDefaultPlacement) j["placement"] = spec.placement;
  if (spec.verification != kDefaultVerification) j["verification"] = spec.verification;
  if (spec.split.has_value()) j["split"] = ToJson(*spec.split);
  if (!spec.mounts.empty()) {
    json mounts = json::array();
    for (const JobMount& m : spec.mounts) mounts.push_back(ToJson(m));
    j["mounts"] = std::move(mounts);
  }
  if (!spec.output_dir.empty()) j["output_dir"] = spec.output_dir;
  if (!spec.store_output.empty()) j["store_output"] = spec.store_output;
  if (spec.segment.has_value()) j["segment"] = *spec.segment;
  return j;
}

absl::StatusOr<JobSpec> JobSpecFromJson(const json& j, bool require_identity) {
  FieldReader r(j, "");
  MESH_RETURN_IF_ERROR(r.CheckObject());
  MESH_RETURN_IF_ERROR(r.CheckKnownKeys(
      {"module", "inputs", "args", "env", "limits", "priority", "labels", "deterministic",
       "submitter", "created_at_ms", "nonce", "requirements", "placement", "verification", "split",
       "mounts", "output_dir", "store_output", "segment"}));
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
  if (const json* requirements = r.Find("requirements"); requirements != nullptr) {
    MESH_ASSIGN_OR_RETURN(spec.requirements, RequirementsFromJson(*requirements, "/requirements"));
  }
  if (r.Find("placement") != nullptr) {
    MESH_ASSIGN_OR_RETURN(spec.placement, r.String("placement", true, 16));
    if (spec.placement != "auto" && spec.placement != "local" && spec.placement != "remote") {
      return r.Error("placement", "must be one of auto, local, remote");
    }
  }
  if (r.Find("verification") != nullptr) {
    MESH_ASSIGN_OR_RETURN(spec.verification, r.String("verification", true, 32));
    absl::StatusOr<verify::Verification> v = verify::ParseVerification(spec.verification);
    if (!v.ok()) return r.Error("verification", std::string(v.status().message()));
    spec.verification = verify::ToString(*v);  // one spelling: the same job has one id
  }
  if (const json* split = r.Find("split"); split != nullptr) {
    MESH_ASSIGN_OR_RETURN(spec.split, SplitSpecFromJson(*split, "/split"));
  }
  if (const json* mounts = r.Find("mounts"); mounts != nullptr) {
    MESH_ASSIGN_OR_RETURN(spec.mounts, MountsFromJson(*mounts, "/mounts"));
  }
  if (r.Find("output_dir") != nullptr) {
    MESH_ASSIGN_OR_RETURN(spec.output_dir, r.String("output_dir", true, kMaxGuestPathBytes));
  }
  MESH_RETURN_IF_ERROR(CheckMounts(spec.mounts, spec.output_dir));
  if (r.Find("store_output") != nullptr) {
    MESH_ASSIGN_OR_RETURN(spec.store_output, r.String("store_output", true, 16));
    storage::StoreOptions code;
    if (absl::Status s = storage::ParseStoreCode(spec.store_output, code); !s.ok()) {
      return r.Error("store_output", ToStd(s.message()));
    }
  }
  if (r.Find("segment") != nullptr) {
    MESH_ASSIGN_OR_RETURN(uint64_t segment,
                          r.Unsigned("segment", std::numeric_limits<uint32_t>::max()));
    if (spec.inputs.empty()) {
      return r.Error("segment", "names a segment of the first input, and there is no input");
    }
    if (spec.split.has_value()) {
      return r.Error("segment", "a split job reads its whole input; its chunks read segments");
    }
    spec.segment = static_cast<uint32_t>(segment);
  }
  if (spec.split.has_value() && !spec.output_dir.empty()) {
    // Each chunk would leave a tree of its own, and no merger joins trees yet.
    return r.Error("output_dir",
                   "a split job cannot name one yet (its chunks' trees are not "
                   "merged); write the results to stdout, or submit unsplit jobs");
  }
  return spec;
}

std::string CanonicalJson(const JobSpec& spec) { return ToJson(spec).dump(); }

namespace {

// `spec` (its submitter already `key`'s) signed as `payload`, its canonical JSON.
SignedJobSpec Sealed(JobSpec spec, const std::string& payload, const crypto::KeyPair& key) {
  std::string envelope = crypto::Envelope::Seal(key, kJobSpecPayloadType, payload).Serialize();
  cas::Cid id = cas::Cid::Of(envelope);
  return SignedJobSpec{std::move(spec), std::move(envelope), id};
}

}  // namespace

SignedJobSpec SignJobSpec(JobSpec spec, const crypto::KeyPair& key) {
  spec.submitter = key.did().ToString();
  const std::string payload = CanonicalJson(spec);
  return Sealed(std::move(spec), payload, key);
}

absl::StatusOr<SignedJobSpec> CheckAndSignJobSpec(JobSpec spec, const crypto::KeyPair& key) {
  spec.submitter = key.did().ToString();
  const json j = ToJson(spec);
  MESH_RETURN_IF_ERROR(JobSpecFromJson(j, /*require_identity=*/true).status());
  return Sealed(std::move(spec), j.dump(), key);
}

absl::StatusOr<SignedJobSpec> OpenJobSpec(std::string_view envelope_bytes) {
  MESH_ASSIGN_OR_RETURN(
      crypto::Envelope envelope,
      crypto::Envelope::Open(envelope_bytes, kJobSpecPayloadType, std::nullopt, kMaxSpecBytes));
  MESH_ASSIGN_OR_RETURN(json j, ParseUntrustedJson(envelope.payload(), "job spec payload"));
  MESH_ASSIGN_OR_RETURN(JobSpec spec, JobSpecFromJson(j, /*require_identity=*/true));
  if (spec.submitter != envelope.signer().ToString()) {
    return absl::PermissionDeniedError(mesh::StrCat("job spec names submitter ", spec.submitter,
                                                    " but is signed by ",
                                                    envelope.signer().ToString()));
  }
  return SignedJobSpec{std::move(spec), std::string(envelope_bytes), cas::Cid::Of(envelope_bytes)};
}

}  // namespace mesh::job
