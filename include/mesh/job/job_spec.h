// JobSpec: what a submitter asks a node to run, and its signed form. The job id is the CID of
// the signed envelope (crypto/envelope.h) that carries the spec's canonical JSON, so the id
// names exactly these bytes, this signer and this moment (created_at, nonce): two identical
// requests are two jobs, and a spec cannot be altered without changing its id.
//
// FromJson is the one way to read a spec from untrusted JSON: every field is checked and an
// error names the JSON path that failed ("/limits/fuel: must be a positive integer").
// Plain value types; the functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "mesh/cas/cid.h"
#include "mesh/crypto/envelope.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/job/job_mounts.h"
#include "mesh/job/requirements.h"
#include "mesh/job/split_spec.h"
#include "nlohmann/json.hpp"

namespace mesh::job {

inline constexpr std::string_view kJobSpecPayloadType = "application/vnd.mesh.jobspec.v1+json";
inline constexpr int kMinPriority = -100;
inline constexpr int kMaxPriority = 100;
inline constexpr size_t kMaxInputs = 64;
inline constexpr size_t kMaxArgs = 256;
inline constexpr size_t kMaxLabels = 64;
inline constexpr size_t kMaxSpecBytes = 256 << 10;
inline constexpr std::string_view kDefaultPlacement = "auto";

// Zero means "the node's default" for every field.
struct JobLimits {
  uint64_t fuel = 0;
  uint64_t memory_bytes = 0;
  uint64_t wall_time_ms = 0;
  uint64_t max_output_bytes = 0;
};

inline constexpr std::string_view kDefaultVerification = "hash";

struct JobSpec {
  std::string module;               // CID of the WASM module (a WASI command)
  std::vector<std::string> inputs;  // CIDs; stdin is their concatenation
  std::vector<std::string> args;    // argv[1..]
  std::vector<std::pair<std::string, std::string>> env;
  JobLimits limits;
  int priority = 0;  // higher runs first; FIFO within a priority
  std::map<std::string, std::string> labels;
  bool deterministic = true;
  std::string submitter;      // did:key of the signer
  int64_t created_at_ms = 0;  // Unix milliseconds
  std::string nonce;          // hex; makes otherwise identical specs distinct
  // Where the job may run, and what its executor must offer. Both are left out of the JSON at
  // their defaults, so a spec that does not use them has the same bytes (and id) as before.
  Requirements requirements;
  std::string placement = std::string(kDefaultPlacement);  // "auto" | "local" | "remote"
  // How a delegated result is checked: "none", "hash", "replicate(k)" or "adaptive"
  // (verify/verification_policy.h). Left out of the JSON at the default, like placement.
  std::string verification = std::string(kDefaultVerification);
  // Split into chunks, run `split->chunk_module` (or `module`) on each, merge (split_spec.h).
  // Absent from the JSON when unset, so an unsplit spec keeps its bytes and id.
  std::optional<SplitSpec> split;
  // Files the job sees (job_mounts.h), and the guest directory whose files become its output
  // tree. Absent from the JSON when empty, like split. requirements.storage_bytes, when set,
  // bounds what the job may write (wasm::Limits::fs_bytes).
  std::vector<JobMount> mounts;
  std::string output_dir;
  // "K+M": once the job succeeds, its submitting node stores its output across the mesh
  // (node/file_store.h) with that erasure code, for the job's user. Absent when empty.
  std::string store_output;
  // The job's first input is a stored file of which it reads only this segment (a chunk of a
  // split over a stored file's segments). Absent from the JSON when unset.
  std::optional<uint32_t> segment;
};

nlohmann::json ToJson(const JobSpec& spec);
// Checks types, ranges and CIDs. `require_identity`: submitter, created_at_ms and nonce must be
// present (a signed spec); otherwise they may be absent (a request the node will sign).
absl::StatusOr<JobSpec> JobSpecFromJson(const nlohmann::json& json, bool require_identity);
// Sorted keys, no whitespace: the bytes that are signed.
std::string CanonicalJson(const JobSpec& spec);

struct SignedJobSpec {
  JobSpec spec;
  std::string envelope;  // serialized crypto::Envelope
  cas::Cid id;           // Cid::Of(envelope)
};

// Fills submitter from `key` and signs. created_at_ms and nonce must already be set.
SignedJobSpec SignJobSpec(JobSpec spec, const crypto::KeyPair& key);
// SignJobSpec for a spec built in code rather than parsed: first holds it to the rules
// OpenJobSpec applies (JobSpecFromJson over the very JSON that is signed), so nothing is
// signed that no reader would accept. InvalidArgument naming the field otherwise.
absl::StatusOr<SignedJobSpec> CheckAndSignJobSpec(JobSpec spec, const crypto::KeyPair& key);
// Verifies the envelope (signature, payload type, size) and the spec inside it, and that the
// spec's submitter is the envelope's signer.
absl::StatusOr<SignedJobSpec> OpenJobSpec(std::string_view envelope_bytes);

}  // namespace mesh::job
