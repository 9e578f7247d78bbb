#include "mesh/job/requirements.h"

#include <limits>

#include "field_reader.h"
#include "mesh/common/status_macros.h"

namespace mesh::job {

using nlohmann::json;

json ToJson(const Requirements& r) {
  return {
      {"cpu_cores", r.cpu_cores},           {"memory_bytes", r.memory_bytes},
      {"storage_bytes", r.storage_bytes},   {"capabilities", r.capabilities},
      {"federations", r.federations},       {"trust_scope", r.trust_scope},
      {"min_reputation", r.min_reputation}, {"max_price", r.max_price},
  };
}

absl::StatusOr<Requirements> RequirementsFromJson(const json& j, std::string_view path) {
  FieldReader r(j, std::string(path));
  MESH_RETURN_IF_ERROR(r.CheckObject());
  MESH_RETURN_IF_ERROR(
      r.CheckKnownKeys({"cpu_cores", "memory_bytes", "storage_bytes", "capabilities", "federations",
                        "trust_scope", "min_reputation", "max_price"}));
  constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
  Requirements out;
  MESH_ASSIGN_OR_RETURN(uint64_t cores, r.Unsigned("cpu_cores", 4096));
  out.cpu_cores = static_cast<uint32_t>(cores);
  MESH_ASSIGN_OR_RETURN(out.memory_bytes, r.Unsigned("memory_bytes", kMax));
  MESH_ASSIGN_OR_RETURN(out.storage_bytes, r.Unsigned("storage_bytes", kMax));
  MESH_ASSIGN_OR_RETURN(out.capabilities, r.Names("capabilities"));
  MESH_ASSIGN_OR_RETURN(out.federations, r.Names("federations"));
  if (r.Find("trust_scope") != nullptr) {
    MESH_ASSIGN_OR_RETURN(out.trust_scope, r.String("trust_scope", true, 16));
    if (out.trust_scope != "any" && out.trust_scope != "federation" && out.trust_scope != "known") {
      return r.Error("trust_scope", "must be one of any, federation, known");
    }
  }
  MESH_ASSIGN_OR_RETURN(out.min_reputation, r.Double("min_reputation", 0, 1));
  MESH_ASSIGN_OR_RETURN(out.max_price, r.Unsigned("max_price", kMax));
  return out;
}

}  // namespace mesh::job
