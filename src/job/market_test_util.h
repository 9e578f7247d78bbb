// Shared fixtures for the market message tests: one of each message, with the constants they
// use. Test-only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/cas/cid.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/job/market.h"

namespace mesh::job::market_fixtures {

inline constexpr int64_t kNow = 1700000000000;
inline constexpr std::string_view kNonce = "00112233445566778899aabbccddeeff";
inline constexpr size_t kMax = 1 << 20;
inline const std::string kJob = cas::Cid::Of("job envelope").ToString();
inline const std::string kModule = cas::Cid::Of("module bytes").ToString();

inline std::string Did(const crypto::KeyPair& key) { return key.did().ToString(); }

// One of each message, all authored by `author`.
inline std::vector<Message> SampleMessages(const crypto::KeyPair& author,
                                           const crypto::KeyPair& other) {
  Announce announce;
  announce.job_id = kJob;
  announce.origin = Did(author);
  announce.origin_address = "10.0.0.1:7000";
  announce.round = 2;
  announce.module_cid = kModule;
  announce.module_bytes = 4096;
  announce.input_bytes = 100;
  announce.fuel = 5'000'000'000;
  announce.memory_bytes = 64 << 20;
  announce.wall_time_ms = 60000;
  announce.requirements.cpu_cores = 2;
  announce.requirements.capabilities = {"gpu", "avx2"};
  announce.requirements.federations = {"lab.eu"};
  announce.requirements.trust_scope = "federation";
  announce.requirements.min_reputation = 0.25;
  announce.requirements.max_price = 1000;
  announce.bid_deadline_ms = kNow + 500;
  announce.exclude = {Did(other)};

  Bid bid;
  bid.job_id = kJob;
  bid.round = 2;
  bid.executor = Did(author);
  bid.executor_address = "10.0.0.2:7000";
  bid.base_fee = 1;
  bid.rate_per_gfuel = 10;
  bid.price = 51;
  bid.cpu_cores = 8;
  bid.memory_bytes = 1ull << 33;
  bid.storage_bytes = 1ull << 30;
  bid.capabilities = {"gpu"};
  bid.federations = {"lab.eu", "home"};
  bid.load = 0.5;
  bid.queued = 1;
  bid.expected_start_ms = kNow + 100;
  bid.fuel_per_second = 2'000'000'000;
  bid.expected_finish_ms = kNow + 600;
  bid.valid_until_ms = kNow + 30000;

  Decline decline{{}, kJob, 0, Did(author), "no_capacity", "2 of 2 slots busy, 4 queued"};

  Assignment assignment;
  assignment.job_id = kJob;
  assignment.round = 1;
  assignment.origin = Did(author);
  assignment.origin_address = "10.0.0.1:7000";
  assignment.executor = Did(other);
  assignment.bid_cid = cas::Cid::Of("bid envelope").ToString();
  assignment.spec_envelope = std::string("MSE\x01\x00\xff binary", 14);
  assignment.deadline_ms = kNow + 60000;
  assignment.resume_checkpoint = cas::Cid::Of("checkpoint").ToString();
  assignment.key_grants.push_back(
      {cas::Cid::Of("manifest", cas::Codec::kDagJson).ToString(),
       std::string("sealed\x00\xffkey", 12),
       {{0, Did(author), "10.0.0.2:7000"}, {1, Did(other), "10.0.0.3:7000"}}});

  AssignmentAck ack{{}, kJob, 1, Did(author), true, ""};
  Progress progress{{}, kJob, 1, Did(author), 0.75, "chunk 3 of 4"};

  Receipt receipt;
  receipt.job_id = kJob;
  receipt.round = 1;
  receipt.executor = Did(author);
  receipt.assignment_cid = cas::Cid::Of("assignment").ToString();
  receipt.outcome = "succeeded";
  receipt.exit_code = -3;
  receipt.output_cid = cas::Cid::Of("output").ToString();
  receipt.output_bytes = 6;
  receipt.fuel_used = 12345;
  receipt.report = {{"fuel", 12345}, {"engine", "aot"}};
  receipt.started_at_ms = kNow;
  receipt.finished_at_ms = kNow + 20;

  CancelJob cancel{{}, kJob, 1, Did(author), "submitter cancelled"};

  Heartbeat heartbeat;
  heartbeat.node = Did(author);
  heartbeat.address = "10.0.0.1:7000";
  heartbeat.cpu_cores = 4;
  heartbeat.memory_bytes = 1ull << 32;
  heartbeat.max_concurrent = 2;
  heartbeat.running = 1;
  heartbeat.draining = true;
  heartbeat.capabilities = {"avx2"};
  heartbeat.fuel_per_second = 3'000'000'000;
  heartbeat.storage_free = 1ull << 30;
  heartbeat.zone = "eu-west-1a";
  heartbeat.peers = {{Did(other), "10.0.0.3:7000"}};

  BlobRequest blob{{}, Did(author), kModule, 1024};
  Artifact artifact{{}, kJob, 1, Did(author), "checkpoint", 2, cas::Cid::Of("state").ToString(),
                    24, 5000};

  Gossip gossip;
  gossip.node = Did(author);
  gossip.address = "10.0.0.1:7000";
  gossip.kind = "shuffle";
  gossip.subject = {Did(author), "10.0.0.1:7000"};
  gossip.ttl = 3;
  gossip.sample = {{Did(other), "10.0.0.3:7000"}};

  const std::string file = cas::Cid::Of("manifest", cas::Codec::kDagJson).ToString();
  StoreShards store{{}, Did(author), "10.0.0.1:7000", file, {{cas::Cid::Of("s0").ToString(), 2}}};
  DropShards drop{{}, Did(author), file, {cas::Cid::Of("s0").ToString()}};
  ShardsHeld held{{}, Did(author), file, {cas::Cid::Of("s0").ToString()}, 1 << 20};
  AuditChallenge audit{{}, Did(author), file, cas::Cid::Of("s0").ToString(), 100, 4096};
  AuditProof proof{{}, Did(author), cas::Cid::Of("s0").ToString(), std::string(64, 'a')};

  return {announce, bid,      decline, assignment, ack,  progress, receipt, cancel, heartbeat,
          blob,     artifact, gossip,  store,      drop, held,     audit,   proof};
}

}  // namespace mesh::job::market_fixtures
