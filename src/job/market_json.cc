#include "market_json.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <utility>
#include <vector>

#include "mesh/common/base64.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/job/job_spec.h"

namespace mesh::job::internal {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxCount = std::numeric_limits<int64_t>::max();
// Prices saturate at the top of uint64 (QuotePrice).
// Credits are int64 in the ledger (and in SQLite): a larger price from a peer would turn
// negative there.
constexpr uint64_t kMaxPrice = std::numeric_limits<int64_t>::max();
constexpr int64_t kMaxTime = std::numeric_limits<int64_t>::max();
// A speed score above 10^15 fuel per second (a million times this machine's aot) is a lie.
constexpr uint64_t kMaxFuelPerSecond = 1'000'000'000'000'000;
constexpr uint64_t kMaxCores = 1 << 16;
constexpr uint64_t kMaxQueue = 1 << 20;
constexpr double kMaxLoad = 1e6;
constexpr size_t kMaxNameBytes = 64;
// A signed JobSpec envelope: the spec plus type, signer DID, lengths and signature.
constexpr size_t kMaxSpecEnvelopeBytes = kMaxSpecBytes + 1024;
constexpr int kMaxReportDepth = 32;

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

void PutHeader(const MessageHeader& h, json& j) {
  j["sent_at_ms"] = h.sent_at_ms;
  j["nonce"] = h.nonce;
}

absl::StatusOr<MessageHeader> ReadHeader(const FieldReader& r) {
  MESH_RETURN_IF_ERROR(r.CheckRequiredKeys({"sent_at_ms", "nonce"}));
  MessageHeader h;
  MESH_ASSIGN_OR_RETURN(h.sent_at_ms, r.Signed("sent_at_ms", 1, kMaxTime));
  MESH_ASSIGN_OR_RETURN(h.nonce, r.String("nonce", true, kNonceHexChars));
  if (h.nonce.size() != kNonceHexChars || !IsLowerHex(h.nonce)) {
    return r.Error("nonce", "must be 32 lower-case hex characters (16 random bytes)");
  }
  return h;
}

namespace {

absl::StatusOr<uint32_t> U32(const FieldReader& r, std::string_view key,
                             uint64_t max = std::numeric_limits<uint32_t>::max()) {
  MESH_ASSIGN_OR_RETURN(uint64_t v, r.Unsigned(key, max));
  return static_cast<uint32_t>(v);
}

absl::StatusOr<int64_t> Time(const FieldReader& r, std::string_view key) {
  return r.Signed(key, 0, kMaxTime);
}

// A short machine-readable word ("no_capacity", "succeeded").
absl::StatusOr<std::string> Code(const FieldReader& r, std::string_view key) {
  MESH_ASSIGN_OR_RETURN(std::string code, r.String(key, true, kMaxNameBytes));
  if (!IsValidName(code)) {
    return r.Error(key, "must be 1 to 64 characters of letters, digits, '.', '_', ':' and '-'");
  }
  return code;
}

// Arbitrary JSON from a peer is bounded in depth before anything walks it recursively.
bool WithinDepth(const json& root, int max_depth) {
  std::vector<std::pair<const json*, int>> stack = {{&root, 1}};
  while (!stack.empty()) {
    auto [node, depth] = stack.back();
    stack.pop_back();
    if (!node->is_structured()) continue;
    if (depth > max_depth) return false;
    for (const json& child : *node) stack.emplace_back(&child, depth + 1);
  }
  return true;
}

json PeerJson(const PeerInfo& p) { return {{"did", p.did}, {"address", p.address}}; }

json PeersJson(const std::vector<PeerInfo>& peers) {
  json out = json::array();
  for (const PeerInfo& p : peers) out.push_back(PeerJson(p));
  return out;
}

absl::StatusOr<PeerInfo> ReadPeer(const FieldReader& r) {
  MESH_RETURN_IF_ERROR(r.CheckObject());
  MESH_RETURN_IF_ERROR(r.CheckKnownKeys({"did", "address"}));
  PeerInfo peer;
  MESH_ASSIGN_OR_RETURN(peer.did, r.Did("did", true));
  MESH_ASSIGN_OR_RETURN(peer.address, r.String("address", false, kMaxAddressBytes));
  return peer;
}

// An optional array of {did, address}, at most kMaxPeers.
absl::StatusOr<std::vector<PeerInfo>> ReadPeers(const FieldReader& r, std::string_view key) {
  return ReadArray(r, key, {.what = "{did, address}", .max_items = kMaxPeers}, ReadPeer);
}

bool IsManifestCid(const std::string& text) {
  absl::StatusOr<cas::Cid> cid = cas::Cid::Parse(text);
  return cid.ok() && cid->codec() == cas::Codec::kDagJson;
}

}  // namespace

json Encode(const Announce& m) {
  json j = {{"job_id", m.job_id},
            {"origin", m.origin},
            {"origin_address", m.origin_address},
            {"round", m.round},
            {"module_cid", m.module_cid},
            {"module_bytes", m.module_bytes},
            {"input_bytes", m.input_bytes},
            {"fuel", m.fuel},
            {"memory_bytes", m.memory_bytes},
            {"wall_time_ms", m.wall_time_ms},
            {"requirements", ToJson(m.requirements)},
            {"bid_deadline_ms", m.bid_deadline_ms},
            {"exclude", m.exclude}};
  PutHeader(m.header, j);
  return j;
}

absl::StatusOr<Announce> DecodeAnnounce(const FieldReader& r) {
  MESH_RETURN_IF_ERROR(
      r.CheckKnownKeys({"sent_at_ms", "nonce", "job_id", "origin", "origin_address", "round",
                        "module_cid", "module_bytes", "input_bytes", "fuel", "memory_bytes",
                        "wall_time_ms", "requirements", "bid_deadline_ms", "exclude"}));
  Announce m;
  MESH_ASSIGN_OR_RETURN(m.header, ReadHeader(r));
  MESH_ASSIGN_OR_RETURN(m.job_id, r.Cid("job_id", true));
  MESH_ASSIGN_OR_RETURN(m.origin, r.Did("origin", true));
  MESH_ASSIGN_OR_RETURN(m.origin_address, r.String("origin_address", false, kMaxAddressBytes));
  MESH_ASSIGN_OR_RETURN(m.round, U32(r, "round"));
  MESH_ASSIGN_OR_RETURN(m.module_cid, r.Cid("module_cid", true));
  MESH_ASSIGN_OR_RETURN(m.module_bytes, r.Unsigned("module_bytes", kMaxCount));
  MESH_ASSIGN_OR_RETURN(m.input_bytes, r.Unsigned("input_bytes", kMaxCount));
  MESH_ASSIGN_OR_RETURN(m.fuel, r.Unsigned("fuel", kMaxCount));
  MESH_ASSIGN_OR_RETURN(m.memory_bytes, r.Unsigned("memory_bytes", 1ull << 32));
  MESH_ASSIGN_OR_RETURN(m.wall_time_ms, r.Unsigned("wall_time_ms", 7 * 86400000ull));
  if (const json* requirements = r.Find("requirements"); requirements != nullptr) {
    MESH_ASSIGN_OR_RETURN(m.requirements,
                          RequirementsFromJson(*requirements, r.PathOf("requirements")));
  }
  MESH_ASSIGN_OR_RETURN(m.bid_deadline_ms, Time(r, "bid_deadline_ms"));
  MESH_ASSIGN_OR_RETURN(m.exclude, r.Dids("exclude", kMaxExclude));
  return m;
}

json Encode(const Bid& m) {
  json j = {{"job_id", m.job_id},
            {"round", m.round},
            {"executor", m.executor},
            {"executor_address", m.executor_address},
            {"base_fee", m.base_fee},
            {"rate_per_gfuel", m.rate_per_gfuel},
            {"price", m.price},
            {"cpu_cores", m.cpu_cores},
            {"memory_bytes", m.memory_bytes},
            {"storage_bytes", m.storage_bytes},
            {"capabilities", m.capabilities},
            {"federations", m.federations},
            {"load", m.load},
            {"queued", m.queued},
            {"expected_start_ms", m.expected_start_ms},
            {"valid_until_ms", m.valid_until_ms}};
  if (m.fuel_per_second > 0) j["fuel_per_second"] = m.fuel_per_second;
  if (m.expected_finish_ms > 0) j["expected_finish_ms"] = m.expected_finish_ms;
  PutHeader(m.header, j);
  return j;
}

absl::StatusOr<Bid> DecodeBid(const FieldReader& r) {
  MESH_RETURN_IF_ERROR(r.CheckKnownKeys({"sent_at_ms",
                                         "nonce",
                                         "job_id",
                                         "round",
                                         "executor",
                                         "executor_address",
                                         "base_fee",
                                         "rate_per_gfuel",
                                         "price",
                                         "cpu_cores",
                                         "memory_bytes",
                                         "storage_bytes",
                                         "capabilities",
                                         "federations",
                                         "load",
                                         "queued",
                                         "expected_start_ms",
                                         "valid_until_ms",
                                         "fuel_per_second",
                                         "expected_finish_ms"}));
  Bid m;
  MESH_ASSIGN_OR_RETURN(m.header, ReadHeader(r));
  MESH_ASSIGN_OR_RETURN(m.job_id, r.Cid("job_id", true));
  MESH_ASSIGN_OR_RETURN(m.round, U32(r, "round"));
  MESH_ASSIGN_OR_RETURN(m.executor, r.Did("executor", true));
  MESH_ASSIGN_OR_RETURN(m.executor_address, r.String("executor_address", false, kMaxAddressBytes));
  MESH_ASSIGN_OR_RETURN(m.base_fee, r.Unsigned("base_fee", kMaxPrice));
  MESH_ASSIGN_OR_RETURN(m.rate_per_gfuel, r.Unsigned("rate_per_gfuel", kMaxPrice));
  MESH_ASSIGN_OR_RETURN(m.price, r.Unsigned("price", kMaxPrice));
  if (m.price < m.base_fee) {
    return r.Error("price", mesh::StrCat("must be at least base_fee (", m.base_fee, ")"));
  }
  MESH_ASSIGN_OR_RETURN(m.cpu_cores, U32(r, "cpu_cores", kMaxCores));
  MESH_ASSIGN_OR_RETURN(m.memory_bytes, r.Unsigned("memory_bytes", kMaxCount));
  MESH_ASSIGN_OR_RETURN(m.storage_bytes, r.Unsigned("storage_bytes", kMaxCount));
  MESH_ASSIGN_OR_RETURN(m.capabilities, r.Names("capabilities"));
  MESH_ASSIGN_OR_RETURN(m.federations, r.Names("federations"));
  MESH_ASSIGN_OR_RETURN(m.load, r.Double("load", 0, kMaxLoad));
  MESH_ASSIGN_OR_RETURN(m.queued, U32(r, "queued", kMaxQueue));
  MESH_ASSIGN_OR_RETURN(m.expected_start_ms, Time(r, "expected_start_ms"));
  MESH_ASSIGN_OR_RETURN(m.valid_until_ms, Time(r, "valid_until_ms"));
  MESH_ASSIGN_OR_RETURN(m.fuel_per_second, r.Unsigned("fuel_per_second", kMaxFuelPerSecond));
  MESH_ASSIGN_OR_RETURN(m.expected_finish_ms, Time(r, "expected_finish_ms"));
  if (m.expected_finish_ms > 0 && m.expected_finish_ms < m.expected_start_ms) {
    return r.Error("expected_finish_ms", "must not be before expected_start_ms");
  }
  return m;
}

json Encode(const Decline& m) {
  json j = {{"job_id", m.job_id},
            {"round", m.round},
            {"executor", m.executor},
            {"code", m.code},
            {"message", m.message}};
  PutHeader(m.header, j);
  return j;
}

absl::StatusOr<Decline> DecodeDecline(const FieldReader& r) {
  MESH_RETURN_IF_ERROR(
      r.CheckKnownKeys({"sent_at_ms", "nonce", "job_id", "round", "executor", "code", "message"}));
  Decline m;
  MESH_ASSIGN_OR_RETURN(m.header, ReadHeader(r));
  MESH_ASSIGN_OR_RETURN(m.job_id, r.Cid("job_id", true));
  MESH_ASSIGN_OR_RETURN(m.round, U32(r, "round"));
  MESH_ASSIGN_OR_RETURN(m.executor, r.Did("executor", true));
  MESH_ASSIGN_OR_RETURN(m.code, Code(r, "code"));
  MESH_ASSIGN_OR_RETURN(m.message, r.String("message", false, kMaxTextBytes));
  return m;
}

json Encode(const Assignment& m) {
  json j = {{"job_id", m.job_id},
            {"round", m.round},
            {"origin", m.origin},
            {"origin_address", m.origin_address},
            {"executor", m.executor},
            {"bid_cid", m.bid_cid},
            {"spec_envelope", Base64Encode(m.spec_envelope)},
            {"deadline_ms", m.deadline_ms}};
  if (!m.resume_checkpoint.empty()) j["resume_checkpoint"] = m.resume_checkpoint;
  if (!m.key_grants.empty()) j["key_grants"] = EncodeKeyGrants(m.key_grants);
  PutHeader(m.header, j);
  return j;
}

absl::StatusOr<Assignment> DecodeAssignment(const FieldReader& r) {
  MESH_RETURN_IF_ERROR(r.CheckKnownKeys({"sent_at_ms", "nonce", "job_id", "round", "origin",
                                         "origin_address", "executor", "bid_cid", "spec_envelope",
                                         "deadline_ms", "resume_checkpoint", "key_grants"}));
  Assignment m;
  MESH_ASSIGN_OR_RETURN(m.header, ReadHeader(r));
  MESH_ASSIGN_OR_RETURN(m.job_id, r.Cid("job_id", true));
  MESH_ASSIGN_OR_RETURN(m.round, U32(r, "round"));
  MESH_ASSIGN_OR_RETURN(m.origin, r.Did("origin", true));
  MESH_ASSIGN_OR_RETURN(m.origin_address, r.String("origin_address", false, kMaxAddressBytes));
  MESH_ASSIGN_OR_RETURN(m.executor, r.Did("executor", true));
  MESH_ASSIGN_OR_RETURN(m.bid_cid, r.Cid("bid_cid", true));
  MESH_ASSIGN_OR_RETURN(std::string encoded,
                        r.String("spec_envelope", true, (kMaxSpecEnvelopeBytes + 2) / 3 * 4));
  absl::StatusOr<std::string> envelope = Base64Decode(encoded);
  if (!envelope.ok()) return r.Error("spec_envelope", ToStd(envelope.status().message()));
  if (envelope->empty()) return r.Error("spec_envelope", "must not be empty");
  m.spec_envelope = *std::move(envelope);
  MESH_ASSIGN_OR_RETURN(m.deadline_ms, Time(r, "deadline_ms"));
  MESH_ASSIGN_OR_RETURN(m.resume_checkpoint, r.Cid("resume_checkpoint", false));
  MESH_ASSIGN_OR_RETURN(m.key_grants, ReadKeyGrants(r, "key_grants"));
  return m;
}

json Encode(const AssignmentAck& m) {
  json j = {{"job_id", m.job_id},
            {"round", m.round},
            {"executor", m.executor},
            {"accepted", m.accepted},
            {"reason", m.reason}};
  PutHeader(m.header, j);
  return j;
}

absl::StatusOr<AssignmentAck> DecodeAssignmentAck(const FieldReader& r) {
  MESH_RETURN_IF_ERROR(r.CheckKnownKeys(
      {"sent_at_ms", "nonce", "job_id", "round", "executor", "accepted", "reason"}));
  MESH_RETURN_IF_ERROR(r.CheckRequiredKeys({"accepted"}));
  AssignmentAck m;
  MESH_ASSIGN_OR_RETURN(m.header, ReadHeader(r));
  MESH_ASSIGN_OR_RETURN(m.job_id, r.Cid("job_id", true));
  MESH_ASSIGN_OR_RETURN(m.round, U32(r, "round"));
  MESH_ASSIGN_OR_RETURN(m.executor, r.Did("executor", true));
  MESH_ASSIGN_OR_RETURN(m.accepted, r.Bool("accepted", false));
  MESH_ASSIGN_OR_RETURN(m.reason, r.String("reason", false, kMaxTextBytes));
  return m;
}

json Encode(const Progress& m) {
  json j = {{"job_id", m.job_id},
            {"round", m.round},
            {"executor", m.executor},
            {"fraction", m.fraction},
            {"message", m.message}};
  PutHeader(m.header, j);
  return j;
}

absl::StatusOr<Progress> DecodeProgress(const FieldReader& r) {
  MESH_RETURN_IF_ERROR(r.CheckKnownKeys(
      {"sent_at_ms", "nonce", "job_id", "round", "executor", "fraction", "message"}));
  Progress m;
  MESH_ASSIGN_OR_RETURN(m.header, ReadHeader(r));
  MESH_ASSIGN_OR_RETURN(m.job_id, r.Cid("job_id", true));
  MESH_ASSIGN_OR_RETURN(m.round, U32(r, "round"));
  MESH_ASSIGN_OR_RETURN(m.executor, r.Did("executor", true));
  MESH_ASSIGN_OR_RETURN(m.fraction, r.Double("fraction", 0, 1));
  MESH_ASSIGN_OR_RETURN(m.message, r.String("message", false, kMaxTextBytes));
  return m;
}

json Encode(const Artifact& m) {
  json j = {{"job_id", m.job_id}, {"round", m.round}, {"executor", m.executor}, {"kind", m.kind},
            {"index", m.index},   {"cid", m.cid},     {"bytes", m.bytes},       {"fuel", m.fuel}};
  PutHeader(m.header, j);
  return j;
}

absl::StatusOr<Artifact> DecodeArtifact(const FieldReader& r) {
  MESH_RETURN_IF_ERROR(r.CheckKnownKeys({"sent_at_ms", "nonce", "job_id", "round", "executor",
                                         "kind", "index", "cid", "bytes", "fuel"}));
  Artifact m;
  MESH_ASSIGN_OR_RETURN(m.header, ReadHeader(r));
  MESH_ASSIGN_OR_RETURN(m.job_id, r.Cid("job_id", true));
  MESH_ASSIGN_OR_RETURN(m.round, U32(r, "round"));
  MESH_ASSIGN_OR_RETURN(m.executor, r.Did("executor", true));
  MESH_ASSIGN_OR_RETURN(m.kind, r.String("kind", true, 16));
  if (m.kind != "checkpoint" && m.kind != "partial") {
    return r.Error("kind", "must be checkpoint or partial");
  }
  MESH_ASSIGN_OR_RETURN(m.index, U32(r, "index"));
  MESH_ASSIGN_OR_RETURN(m.cid, r.Cid("cid", true));
  MESH_ASSIGN_OR_RETURN(m.bytes, r.Unsigned("bytes", kMaxCount));
  MESH_ASSIGN_OR_RETURN(m.fuel, r.Unsigned("fuel", kMaxCount));
  return m;
}

json Encode(const Receipt& m) {
  json j = {{"job_id", m.job_id},
            {"round", m.round},
            {"executor", m.executor},
            {"assignment_cid", m.assignment_cid},
            {"outcome", m.outcome},
            {"exit_code", m.exit_code},
            {"output_cid", m.output_cid},
            {"output_bytes", m.output_bytes},
            {"fuel_used", m.fuel_used},
            {"report", m.report.is_null() ? json::object() : m.report},
            {"started_at_ms", m.started_at_ms},
            {"finished_at_ms", m.finished_at_ms}};
  if (!m.files_cid.empty()) j["files_cid"] = m.files_cid;
  PutHeader(m.header, j);
  return j;
}

absl::StatusOr<Receipt> DecodeReceipt(const FieldReader& r) {
  MESH_RETURN_IF_ERROR(
      r.CheckKnownKeys({"sent_at_ms", "nonce", "job_id", "round", "executor", "assignment_cid",
                        "outcome", "exit_code", "output_cid", "output_bytes", "fuel_used", "report",
                        "started_at_ms", "finished_at_ms", "files_cid"}));
  Receipt m;
  MESH_ASSIGN_OR_RETURN(m.header, ReadHeader(r));
  MESH_ASSIGN_OR_RETURN(m.job_id, r.Cid("job_id", true));
  MESH_ASSIGN_OR_RETURN(m.round, U32(r, "round"));
  MESH_ASSIGN_OR_RETURN(m.executor, r.Did("executor", true));
  MESH_ASSIGN_OR_RETURN(m.assignment_cid, r.Cid("assignment_cid", false));
  MESH_ASSIGN_OR_RETURN(m.outcome, Code(r, "outcome"));
  MESH_ASSIGN_OR_RETURN(int64_t exit_code, r.Signed("exit_code", INT32_MIN, INT32_MAX));
  m.exit_code = static_cast<int32_t>(exit_code);
  MESH_ASSIGN_OR_RETURN(m.output_cid, r.Cid("output_cid", false));
  MESH_ASSIGN_OR_RETURN(m.output_bytes, r.Unsigned("output_bytes", kMaxCount));
  MESH_ASSIGN_OR_RETURN(m.files_cid, r.Cid("files_cid", false));
  if (!m.files_cid.empty() && !IsManifestCid(m.files_cid)) {
    return r.Error("files_cid", "must name a directory manifest (a dag-json CID)");
  }
  MESH_ASSIGN_OR_RETURN(m.fuel_used, r.Unsigned("fuel_used", kMaxCount));
  m.report = json::object();
  if (const json* report = r.Find("report"); report != nullptr) {
    if (!report->is_object()) return r.Error("report", "must be an object");
    if (!WithinDepth(*report, kMaxReportDepth)) {
      return r.Error("report", mesh::StrCat("is nested deeper than ", kMaxReportDepth, " levels"));
    }
    if (report->dump().size() > kMaxReportBytes) {
      return r.Error("report", mesh::StrCat("is larger than ", kMaxReportBytes, " bytes"));
    }
    m.report = *report;
  }
  MESH_ASSIGN_OR_RETURN(m.started_at_ms, Time(r, "started_at_ms"));
  MESH_ASSIGN_OR_RETURN(m.finished_at_ms, Time(r, "finished_at_ms"));
  if (m.finished_at_ms < m.started_at_ms) {
    return r.Error("finished_at_ms",
                   mesh::StrCat("is before started_at_ms (", m.started_at_ms, ")"));
  }
  return m;
}

json Encode(const CancelJob& m) {
  json j = {{"job_id", m.job_id}, {"round", m.round}, {"origin", m.origin}, {"reason", m.reason}};
  PutHeader(m.header, j);
  return j;
}

absl::StatusOr<CancelJob> DecodeCancelJob(const FieldReader& r) {
  MESH_RETURN_IF_ERROR(
      r.CheckKnownKeys({"sent_at_ms", "nonce", "job_id", "round", "origin", "reason"}));
  CancelJob m;
  MESH_ASSIGN_OR_RETURN(m.header, ReadHeader(r));
  MESH_ASSIGN_OR_RETURN(m.job_id, r.Cid("job_id", true));
  MESH_ASSIGN_OR_RETURN(m.round, U32(r, "round"));
  MESH_ASSIGN_OR_RETURN(m.origin, r.Did("origin", true));
  MESH_ASSIGN_OR_RETURN(m.reason, r.String("reason", false, kMaxTextBytes));
  return m;
}

json Encode(const Heartbeat& m) {
  json j = {{"node", m.node},
            {"address", m.address},
            {"cpu_cores", m.cpu_cores},
            {"memory_bytes", m.memory_bytes},
            {"max_concurrent", m.max_concurrent},
            {"running", m.running},
            {"queued", m.queued},
            {"draining", m.draining},
            {"capabilities", m.capabilities},
            {"federations", m.federations},
            {"peers", PeersJson(m.peers)}};
  if (m.hello) j["hello"] = true;
  if (m.fuel_per_second > 0) j["fuel_per_second"] = m.fuel_per_second;
  if (m.storage_free > 0) j["storage_free"] = m.storage_free;
  if (!m.zone.empty()) j["zone"] = m.zone;
  PutHeader(m.header, j);
  return j;
}

absl::StatusOr<Heartbeat> DecodeHeartbeat(const FieldReader& r) {
  MESH_RETURN_IF_ERROR(r.CheckKnownKeys({"sent_at_ms", "nonce", "node", "address", "cpu_cores",
                                         "memory_bytes", "max_concurrent", "running", "queued",
                                         "draining", "capabilities", "federations", "peers",
                                         "hello", "fuel_per_second", "storage_free", "zone"}));
  Heartbeat m;
  MESH_ASSIGN_OR_RETURN(m.header, ReadHeader(r));
  MESH_ASSIGN_OR_RETURN(m.node, r.Did("node", true));
  MESH_ASSIGN_OR_RETURN(m.address, r.String("address", false, kMaxAddressBytes));
  MESH_ASSIGN_OR_RETURN(m.cpu_cores, U32(r, "cpu_cores", kMaxCores));
  MESH_ASSIGN_OR_RETURN(m.memory_bytes, r.Unsigned("memory_bytes", kMaxCount));
  MESH_ASSIGN_OR_RETURN(m.max_concurrent, U32(r, "max_concurrent", kMaxCores));
  MESH_ASSIGN_OR_RETURN(m.running, U32(r, "running", kMaxQueue));
  MESH_ASSIGN_OR_RETURN(m.queued, U32(r, "queued", kMaxQueue));
  MESH_ASSIGN_OR_RETURN(m.draining, r.Bool("draining", false));
  MESH_ASSIGN_OR_RETURN(m.capabilities, r.Names("capabilities"));
  MESH_ASSIGN_OR_RETURN(m.federations, r.Names("federations"));
  MESH_ASSIGN_OR_RETURN(m.peers, ReadPeers(r, "peers"));
  MESH_ASSIGN_OR_RETURN(m.hello, r.Bool("hello", false));
  MESH_ASSIGN_OR_RETURN(m.fuel_per_second, r.Unsigned("fuel_per_second", kMaxFuelPerSecond));
  MESH_ASSIGN_OR_RETURN(m.storage_free, r.Unsigned("storage_free", kMaxCount));
  MESH_ASSIGN_OR_RETURN(m.zone, r.String("zone", false, kMaxNameBytes));
  if (!m.zone.empty() && !IsValidName(m.zone)) {
    return r.Error("zone", "must be 1 to 64 characters of letters, digits, '.', '_', ':' and '-'");
  }
  return m;
}

json Encode(const BlobRequest& m) {
  json j = {{"requester", m.requester}, {"cid", m.cid}, {"offset", m.offset}};
  PutHeader(m.header, j);
  return j;
}

absl::StatusOr<BlobRequest> DecodeBlobRequest(const FieldReader& r) {
  MESH_RETURN_IF_ERROR(r.CheckKnownKeys({"sent_at_ms", "nonce", "requester", "cid", "offset"}));
  BlobRequest m;
  MESH_ASSIGN_OR_RETURN(m.header, ReadHeader(r));
  MESH_ASSIGN_OR_RETURN(m.requester, r.Did("requester", true));
  MESH_ASSIGN_OR_RETURN(m.cid, r.Cid("cid", true));
  MESH_ASSIGN_OR_RETURN(m.offset, r.Unsigned("offset", kMaxCount));
  return m;
}

json Encode(const Gossip& m) {
  json j = {{"node", m.node}, {"address", m.address}, {"kind", m.kind}};
  if (!m.subject.did.empty()) j["subject"] = PeerJson(m.subject);
  if (m.ttl != 0) j["ttl"] = m.ttl;
  if (m.flag) j["flag"] = true;
  if (!m.sample.empty()) j["sample"] = PeersJson(m.sample);
  PutHeader(m.header, j);
  return j;
}

absl::StatusOr<Gossip> DecodeGossip(const FieldReader& r) {
  MESH_RETURN_IF_ERROR(r.CheckKnownKeys(
      {"sent_at_ms", "nonce", "node", "address", "kind", "subject", "ttl", "flag", "sample"}));
  static constexpr std::string_view kKinds[] = {"join",           "forward_join", "neighbor",
                                                "neighbor_reply", "disconnect",   "shuffle",
                                                "shuffle_reply"};
  Gossip m;
  MESH_ASSIGN_OR_RETURN(m.header, ReadHeader(r));
  MESH_ASSIGN_OR_RETURN(m.node, r.Did("node", true));
  MESH_ASSIGN_OR_RETURN(m.address, r.String("address", false, kMaxAddressBytes));
  MESH_ASSIGN_OR_RETURN(m.kind, r.String("kind", true, 32));
  if (std::find(std::begin(kKinds), std::end(kKinds), m.kind) == std::end(kKinds)) {
    return r.Error("kind", mesh::StrCat("unknown gossip kind '", m.kind, "'"));
  }
  if (const json* subject = r.Find("subject"); subject != nullptr) {
    MESH_ASSIGN_OR_RETURN(m.subject, ReadPeer(FieldReader(*subject, r.PathOf("subject"))));
  }
  MESH_ASSIGN_OR_RETURN(m.ttl, U32(r, "ttl", kMaxGossipTtl));
  MESH_ASSIGN_OR_RETURN(m.flag, r.Bool("flag", false));
  MESH_ASSIGN_OR_RETURN(m.sample, ReadPeers(r, "sample"));
  return m;
}

}  // namespace mesh::job::internal
