// The messages nodes exchange in the job market, and their signed form. Every message is a
// crypto::Envelope whose payload is the message's canonical JSON, with its own payload type
// (so a bid can never be replayed as a receipt), a sent_at time and a random nonce (so a
// replayed message can be recognised and refused; see net/replay_guard.h).
//
// OpenMessage is the one way to read a message from a peer: it checks the envelope (size,
// signature, known type), every field (an error names the JSON path), and that the signer is
// the party the message speaks for (a bid's executor, a receipt's executor, an announcement's
// origin). Plain value types; the functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "mesh/crypto/envelope.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/job/requirements.h"
#include "nlohmann/json.hpp"

namespace mesh::job {

// Fields every market message carries.
struct MessageHeader {
  int64_t sent_at_ms = 0;  // Unix milliseconds, by the signer's clock
  std::string nonce;       // 16 random bytes, hex
};

// Submitter's node -> mesh: a job is up for bids.
struct Announce {
  MessageHeader header;
  std::string job_id;
  std::string origin;          // DID of the submitter's node (the signer)
  std::string origin_address;  // where bids and receipts go
  uint32_t round = 0;          // 0 for the first auction, +1 for each re-announcement
  std::string module_cid;
  uint64_t module_bytes = 0;
  uint64_t input_bytes = 0;
  uint64_t fuel = 0;          // fuel limit
  uint64_t memory_bytes = 0;  // memory limit
  uint64_t wall_time_ms = 0;
  Requirements requirements;
  int64_t bid_deadline_ms = 0;
  std::vector<std::string> exclude;  // executor DIDs not to bid (failed in earlier rounds)
};

// Executor -> submitter: an offer. Price = base_fee + rate_per_gfuel * fuel / 1e9 (rounded up).
struct Bid {
  MessageHeader header;
  std::string job_id;
  uint32_t round = 0;
  std::string executor;  // DID (the signer)
  std::string executor_address;
  uint64_t base_fee = 0;
  uint64_t rate_per_gfuel = 0;
  uint64_t price = 0;  // for the announced fuel limit
  uint32_t cpu_cores = 0;
  uint64_t memory_bytes = 0;
  uint64_t storage_bytes = 0;
  std::vector<std::string> capabilities;
  std::vector<std::string> federations;
  double load = 0;  // running / capacity, 0..1+
  uint32_t queued = 0;
  int64_t expected_start_ms = 0;
  // The executor's speed score (fuel per second of its engine; 0 = not measured) and when it
  // expects to be done if the job used its whole fuel limit (0 = no estimate).
  uint64_t fuel_per_second = 0;
  int64_t expected_finish_ms = 0;
  int64_t valid_until_ms = 0;
};

// Executor -> submitter: no bid, and why. `code` is machine-readable (e.g. "no_capacity",
// "memory", "capability", "federation", "price", "draining", "excluded", "too_large").
struct Decline {
  MessageHeader header;
  std::string job_id;
  uint32_t round = 0;
  std::string executor;
  std::string code;
  std::string message;
};

// A job input that is a stored file (storage/store_manifest.h, node/stored_inputs.h): its key
// sealed to the one executor the Assignment names (crypto::SealTo; only that executor opens it)
// and who holds shard `index` of every segment, so the executor fetches any k of them.
inline constexpr size_t kMaxGrantHolders = 255;  // ISA-L's largest k + m
inline constexpr size_t kMaxSealedKeyBytes = 256;
struct GrantHolder {
  int32_t index = 0;
  std::string did;
  std::string address;
};
struct KeyGrant {
  std::string file;        // the manifest's CID, one of the spec's inputs
  std::string sealed_key;  // bytes (base64 in JSON); empty for a file stored unencrypted
  std::vector<GrantHolder> holders;
};

// Submitter -> winner: run this job. Carries the submitter-signed JobSpec envelope.
struct Assignment {
  MessageHeader header;
  std::string job_id;
  uint32_t round = 0;
  std::string origin;
  std::string origin_address;
  std::string executor;
  std::string bid_cid;        // CID of the winning bid's envelope
  std::string spec_envelope;  // bytes (base64 in JSON)
  int64_t deadline_ms = 0;    // the receipt is due by then
  // CID of the checkpoint the run resumes from (an earlier executor made it); empty: from the
  // start. Left out of the JSON when empty.
  std::string resume_checkpoint;
  // The keys of the stored files among the inputs, for this executor alone. Left out of the
  // JSON when empty; at most one per input.
  std::vector<KeyGrant> key_grants;
};

// Executor -> submitter: the assignment was taken (accepted) or refused (reason).
struct AssignmentAck {
  MessageHeader header;
  std::string job_id;
  uint32_t round = 0;
  std::string executor;
  bool accepted = false;
  std::string reason;
};

// Executor -> submitter while a job runs.
struct Progress {
  MessageHeader header;
  std::string job_id;
  uint32_t round = 0;
  std::string executor;
  double fraction = 0;  // 0..1
  std::string message;
};

// Executor -> submitter: the signed result.
struct Receipt {
  MessageHeader header;
  std::string job_id;
  uint32_t round = 0;
  std::string executor;
  std::string assignment_cid;  // CID of the Assignment envelope; empty if the executor lost it
  std::string outcome;         // wasm::OutcomeName
  int32_t exit_code = 0;
  std::string output_cid;
  uint64_t output_bytes = 0;
  // The output tree (a directory manifest) of a job whose spec names an output_dir; empty (and
  // absent from the JSON, so older receipts keep their bytes) otherwise.
  std::string files_cid;
  uint64_t fuel_used = 0;
  nlohmann::json report;  // wasm::RunReport as JSON
  int64_t started_at_ms = 0;
  int64_t finished_at_ms = 0;
};

// What replicas must agree on: the output's CID, and the output tree's when there is one
// ("<output>+<files>"). Two executors that wrote different files disagree.
std::string ResultKey(std::string_view output_cid, std::string_view files_cid);
inline std::string ResultKey(const Receipt& r) { return ResultKey(r.output_cid, r.files_cid); }

// Executor -> submitter while a job runs: a checkpoint (mesh.checkpoint; the latest one lets
// another executor resume the job) or a partial output (mesh.emit_partial), stored as a blob
// on the executor for the submitter to fetch by CID.
struct Artifact {
  MessageHeader header;
  std::string job_id;
  uint32_t round = 0;
  std::string executor;
  std::string kind;    // "checkpoint" | "partial"
  uint32_t index = 0;  // 0, 1, ... per kind and run
  std::string cid;
  uint64_t bytes = 0;
  uint64_t fuel = 0;  // fuel the run had used when it made it
};

// Submitter -> executor: stop this job.
struct CancelJob {
  MessageHeader header;
  std::string job_id;
  uint32_t round = 0;
  std::string origin;
  std::string reason;
};

struct PeerInfo {
  std::string did;
  std::string address;
};

// Node <-> active neighbour, every heartbeat period: liveness (membership's ping), capacity and
// load, and the sender's active view (the peers it relays announcements to). A `hello` is sent to
// a bootstrap address only to learn who answers there (its reply is signed): it is no ping.
struct Heartbeat {
  MessageHeader header;
  std::string node;  // DID (the signer)
  std::string address;
  uint32_t cpu_cores = 0;
  uint64_t memory_bytes = 0;
  uint32_t max_concurrent = 0;
  uint32_t running = 0;
  uint32_t queued = 0;
  bool draining = false;
  std::vector<std::string> capabilities;
  std::vector<std::string> federations;
  std::vector<PeerInfo> peers;  // the sender's active view
  bool hello = false;
  uint64_t fuel_per_second = 0;  // its speed score (node/host_profile.h); 0 = not measured
  uint64_t storage_free = 0;     // room for other nodes' shards ([storage] quota less held)
  std::string zone;              // its failure domain ([storage] zone), for shard placement
};

// Node -> node: one message of the membership protocol (membership/membership.h) other than
// its ping (the Heartbeat). node::GossipOf / MembershipMessageOf translate.
struct Gossip {
  MessageHeader header;
  std::string node;     // DID (the signer)
  std::string address;  // where the signer is dialled
  // "join", "forward_join", "neighbor", "neighbor_reply", "disconnect", "shuffle",
  // "shuffle_reply".
  std::string kind;
  PeerInfo subject;              // forward_join: the joiner; shuffle: the walk's origin
  uint32_t ttl = 0;              // forward_join, shuffle: hops left (at most kMaxGossipTtl)
  bool flag = false;             // neighbor: high priority; neighbor_reply: accepted
  std::vector<PeerInfo> sample;  // shuffle, shuffle_reply
};
inline constexpr uint32_t kMaxGossipTtl = 16;
// The most capabilities (or federations) a heartbeat or bid may list; a peer refuses more.
inline constexpr size_t kMaxAdvertisedNames = 32;

// A request for a blob by CID (net::Transport::FetchBlob).
struct BlobRequest {
  MessageHeader header;
  std::string requester;
  std::string cid;
  uint64_t offset = 0;
};

// Stored files (storage/, node/file_store.h). Shards are never pushed inside a message: the
// holder pulls each one by CID from `source_address` (FetchBlob) and checks it there.
inline constexpr size_t kMaxShardsPerMessage = 4096;
struct ShardRef {
  std::string cid;
  uint64_t bytes = 0;
};
// Owner -> holder: hold these shards of the stored file `file` (its manifest's CID) for the
// owner. The reply is a ShardsHeld, sent once every shard is stored here (or an error: over the
// holder's quota, a shard not found or not matching its CID).
struct StoreShards {
  MessageHeader header;
  std::string owner;           // DID (the signer)
  std::string source_address;  // where the shards are fetched (the signer's node)
  std::string file;
  std::vector<ShardRef> shards;  // at most kMaxShardsPerMessage
};
// Owner -> holder: the shards of `file` it no longer needs held (all of them when empty).
// The reply is a ShardsHeld listing what the holder still holds of the file for the owner.
struct DropShards {
  MessageHeader header;
  std::string owner;  // DID (the signer)
  std::string file;
  std::vector<std::string> shards;
};
// Holder -> owner: the reply to StoreShards and DropShards.
struct ShardsHeld {
  MessageHeader header;
  std::string holder;  // DID (the signer)
  std::string file;
  std::vector<std::string> shards;  // held here for the owner, at most kMaxShardsPerMessage
  uint64_t free_bytes = 0;          // room left under the holder's quota
};

// Owner -> holder: prove you still hold shard `shard` of `file`: the SHA-256 of its bytes
// [offset, offset + length). The owner computed the answer when it placed the shard.
inline constexpr uint64_t kMaxAuditBytes = 64 << 10;
struct AuditChallenge {
  MessageHeader header;
  std::string owner;  // DID (the signer)
  std::string file;
  std::string shard;
  uint64_t offset = 0;
  uint64_t length = 0;  // 1..kMaxAuditBytes
};
// Holder -> owner: the reply to an AuditChallenge.
struct AuditProof {
  MessageHeader header;
  std::string holder;  // DID (the signer)
  std::string shard;
  std::string sha256;  // hex of the range's hash
};

using Message = std::variant<Announce, Bid, Decline, Assignment, AssignmentAck, Progress, Receipt,
                             CancelJob, Heartbeat, BlobRequest, Artifact, Gossip, StoreShards,
                             DropShards, ShardsHeld, AuditChallenge, AuditProof>;

// "application/vnd.mesh.<name>.v1+json" for each alternative of Message.
std::string_view PayloadType(const Message& message);
std::string_view MessageName(const Message& message);  // "announce", "bid", ...

nlohmann::json ToJson(const Message& message);
// Reads the message of `payload_type` from untrusted JSON: unknown fields, wrong types, values
// out of range, malformed DIDs and CIDs are InvalidArgument naming the field as
// "/<message name>/<field>" ("/bid/price: must be a non-negative integer"). Does not check the
// signer (OpenMessage does).
absl::StatusOr<Message> MessageFromJson(std::string_view payload_type, const nlohmann::json& json);
// Sets header.sent_at_ms / header.nonce if they are empty, then signs. `nonce_hex` must be 32
// lower-case hex characters (16 random bytes), or OpenMessage refuses the message.
crypto::Envelope SealMessage(const crypto::KeyPair& key, Message message, int64_t now_ms,
                             std::string_view nonce_hex);

struct OpenedMessage {
  crypto::Envelope envelope;
  Message message;
};
// Verifies the envelope (at most `max_bytes`), decodes the message of its payload type, and
// checks that the signer is the DID the message names as its author (PermissionDenied if not;
// malformed input is InvalidArgument, a bad signature Unauthenticated).
absl::StatusOr<OpenedMessage> OpenMessage(std::string_view bytes, size_t max_bytes);

// Price of a bid for `fuel`: base_fee + ceil(rate_per_gfuel * fuel / 1e9), saturating.
uint64_t QuotePrice(uint64_t base_fee, uint64_t rate_per_gfuel, uint64_t fuel);

}  // namespace mesh::job
