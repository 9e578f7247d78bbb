#include "mesh/node/mesh_service.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "mesh/common/hex.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh_internal.h"
#include "spdlog/spdlog.h"

namespace mesh::node {

std::string NewNonce(Rng& rng) {
  const uint64_t a = rng.Next64(), b = rng.Next64();
  return HexEncode(std::string_view(reinterpret_cast<const char*>(&a), 8)) +
         HexEncode(std::string_view(reinterpret_cast<const char*>(&b), 8));
}

namespace {

// Physical memory per job slot: the largest memory limit this node offers a job.
uint64_t MemoryPerSlot(int slots) {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  const uint64_t total = pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 1ull << 30;
  return total / uint64_t(std::max(1, slots));
}

uint64_t FreeBytes(const std::filesystem::path& dir) {
  struct statvfs st {};
  if (statvfs(dir.c_str(), &st) != 0) return 0;
  return uint64_t(st.f_bavail) * uint64_t(st.f_frsize);
}

}  // namespace

MeshService::MeshService(MeshOptions options, NodeEnv env, ComputeService* compute,
                         net::Transport* transport, std::unique_ptr<PeerTable> peers,
                         const ComputeOptions& compute_options)
    : options_(std::move(options)),
      env_(env),
      compute_(compute),
      transport_(transport),
      peers_(std::move(peers)),
      max_module_bytes_(compute_options.max_module_bytes),
      max_input_bytes_(compute_options.max_input_bytes),
      replay_(options_.max_message_age),
      metrics_(std::make_unique<Metrics>(*env.metrics)) {
  env_.metrics->AddGaugeCallback("mesh_peers_alive", "Peers heard from within dead_after",
                                 [this] { return double(peers_->alive_count()); });
  env_.metrics->AddGaugeCallback("mesh_market_auctions_open",
                                 "Delegated jobs being placed, waiting for bids, or running "
                                 "elsewhere",
                                 [this] {
                                   absl::MutexLock lock(&mu_);
                                   return double(auctions_.size());
                                 });
  for (const std::string& address : options_.peers) peers_->AddAddress(address);
}

MeshService::~MeshService() { Stop(); }

absl::Status MeshService::Start() {
  MESH_RETURN_IF_ERROR(transport_->Start(this));
  started_ = true;
  for (int i = 0; i < 2; ++i) workers_.emplace_back([this] { WorkLoop(); });
  ticker_ = std::thread([this] { TickLoop(); });
  spdlog::info("mesh: listening for peers on {} (mutual TLS) as {}", transport_->address(),
               env_.key->did().ToString());
  return absl::OkStatus();
}

void MeshService::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (ticker_.joinable()) ticker_.join();
  {
    absl::MutexLock lock(&work_mu_);
    work_stop_ = true;
  }
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  if (started_) transport_->Shutdown();
  if (absl::Status s = peers_->Save(); !s.ok()) {
    spdlog::warn("mesh: cannot save the peer table: {}", s.ToString());
  }
}

void MeshService::TickLoop() {
  // Bid windows close on the last answer (not here); the ticker handles deadlines, retries
  // and heartbeats, so a few milliseconds of granularity is plenty.
  const absl::Duration period =
      std::min(absl::Milliseconds(20), options_.bid_window / 4 + absl::Milliseconds(1));
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stop), period)) return;
    }
    Tick();
  }
}

void MeshService::Tick() {
  const absl::Time now = env_.clock->Now();
  bool heartbeat = false;
  {
    absl::MutexLock lock(&mu_);
    if (now - last_heartbeat_ >= options_.heartbeat) {
      last_heartbeat_ = now;
      heartbeat = true;
    }
  }
  if (heartbeat) {
    std::vector<std::string> died = peers_->Sweep(now, options_.dead_after);
    if (!died.empty()) PeersDied(died);
    SendHeartbeats(now);
    if (absl::Status s = peers_->Save(); !s.ok()) {
      spdlog::warn("mesh: cannot save the peer table: {}", s.ToString());
    }
  }
  {
    absl::MutexLock lock(&mu_);
    TickAuctions(now);
    TickReceipts(now);
  }
  RunDeferred();
}

void MeshService::Defer(std::function<void()> action) { deferred_.push_back(std::move(action)); }

void MeshService::RunDeferred() {
  while (true) {
    std::vector<std::function<void()>> actions;
    {
      absl::MutexLock lock(&mu_);
      actions.swap(deferred_);
    }
    if (actions.empty()) return;
    for (auto& action : actions) action();
  }
}

void MeshService::Post(std::function<void()> task) {
  absl::MutexLock lock(&work_mu_);
  work_.push_back(std::move(task));
}

void MeshService::WorkLoop() {
  auto ready = [this]()
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(work_mu_) { return !work_.empty() || work_stop_; };
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&work_mu_, absl::Condition(&ready));
      if (work_stop_) return;
      task = std::move(work_.front());
      work_.pop_front();
    }
    task();
    RunDeferred();
  }
}

// --- Messages -----------------------------------------------------------------------------

std::string MeshService::Seal(job::Message message) {
  const int64_t now_ms = absl::ToUnixMillis(env_.clock->Now());
  return job::SealMessage(*env_.key, std::move(message), now_ms, NewNonce(*env_.rng)).Serialize();
}

void MeshService::Refused(std::string_view reason) {
  metrics_->refused->WithLabels({reason})->Inc();
}

absl::StatusOr<job::OpenedMessage> MeshService::OpenChecked(
    std::string_view bytes, const std::optional<crypto::DidKey>& from) {
  if (bytes.size() > net::kMaxMessageBytes) {
    Refused("too_large");
    return absl::ResourceExhaustedError(mesh::StrCat(
        "message of ", bytes.size(), " bytes is over the limit of ", net::kMaxMessageBytes));
  }
  absl::StatusOr<job::OpenedMessage> opened = job::OpenMessage(bytes, net::kMaxMessageBytes);
  if (!opened.ok()) {
    Refused(absl::IsUnauthenticated(opened.status())    ? "signature"
            : absl::IsPermissionDenied(opened.status()) ? "wrong_signer"
                                                        : "malformed");
    return opened.status();
  }
  const bool relayed = std::holds_alternative<job::Announce>(opened->message);
  if (from.has_value() && !relayed && !(opened->envelope.signer() == *from)) {
    // The TLS connection authenticated one node and the message is signed by another.
    Refused("wrong_signer");
    return absl::PermissionDeniedError(mesh::StrCat(
        job::MessageName(opened->message), " signed by ", opened->envelope.signer().ToString(),
        " arrived from peer ", from->ToString()));
  }
  const job::MessageHeader& header = std::visit(
      [](const auto& m) -> const job::MessageHeader& { return m.header; }, opened->message);
  if (!relayed) {
    if (absl::Status s = replay_.Check(header, env_.clock->Now()); !s.ok()) {
      Refused(absl::IsAlreadyExists(s) ? "replayed" : "stale");
      return s;
    }
  }
  metrics_->messages->WithLabels({job::MessageName(opened->message)})->Inc();
  return opened;
}

void MeshService::SendTo(const Peer& peer, job::Message message, int ttl,
                         std::function<void(absl::StatusOr<job::OpenedMessage>)> done) {
  net::Endpoint to{peer.address, std::nullopt};
  if (!peer.did.empty()) {
    if (absl::StatusOr<crypto::DidKey> did = crypto::DidKey::Parse(peer.did); did.ok()) {
      to.did = *did;
    }
  }
  const std::optional<crypto::DidKey> expect = to.did;
  const std::string address = peer.address;
  transport_->Send(
      to, Seal(std::move(message)), ttl, absl::Seconds(5),
      [this, expect, address, done = std::move(done)](absl::StatusOr<std::string> reply) {
        if (!reply.ok()) {
          peers_->Failed(address);
          if (done) done(reply.status());
          return;
        }
        if (!done) return;
        if (reply->empty()) {
          done(absl::NotFoundError("no reply"));
          return;
        }
        done(OpenChecked(*reply, expect));
        RunDeferred();
      });
}

absl::StatusOr<std::string> MeshService::OnMessage(const crypto::DidKey& peer,
                                                   std::string_view envelope, int ttl) {
  MESH_ASSIGN_OR_RETURN(job::OpenedMessage opened, OpenChecked(envelope, peer));
  const absl::Time now = env_.clock->Now();
  peers_->Touch(peer.ToString(), now);
  absl::StatusOr<std::string> reply = std::visit(
      [&](auto& m) -> absl::StatusOr<std::string> {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, job::Heartbeat>) {
          OnHeartbeat(m, now, std::nullopt);
          return Seal(MakeHeartbeat());
        } else if constexpr (std::is_same_v<T, job::Announce>) {
          return OnAnnounce(peer, m, opened.envelope, ttl);
        } else if constexpr (std::is_same_v<T, job::Bid>) {
          // A bid sent on its own: the announcement reached its executor through a relay.
          absl::MutexLock lock(&mu_);
          auto it = auctions_.find(m.job_id);
          if (it != auctions_.end() && it->second->stage == Auction::Stage::kBidding &&
              it->second->round == m.round) {
            AddBid(*it->second, m, opened.envelope);
            MaybeClose(*it->second, now);
          }
          return std::string();
        } else if constexpr (std::is_same_v<T, job::Assignment>) {
          return OnAssignment(m, opened.envelope);
        } else if constexpr (std::is_same_v<T, job::Receipt>) {
          return OnReceipt(m, opened.envelope);
        } else if constexpr (std::is_same_v<T, job::Progress>) {
          OnRemoteProgress(m);
          return std::string();
        } else if constexpr (std::is_same_v<T, job::Artifact>) {
          OnRemoteArtifact(m);
          return std::string();
        } else if constexpr (std::is_same_v<T, job::CancelJob>) {
          return OnCancel(m);
        } else {
          return absl::InvalidArgumentError(
              mesh::StrCat("a ", job::MessageName(opened.message), " is not a request"));
        }
      },
      opened.message);
  RunDeferred();
  return reply;
}

absl::StatusOr<std::unique_ptr<cas::ByteSource>> MeshService::OpenBlob(const crypto::DidKey& peer,
                                                                       std::string_view request) {
  MESH_ASSIGN_OR_RETURN(job::OpenedMessage opened, OpenChecked(request, peer));
  const auto* r = std::get_if<job::BlobRequest>(&opened.message);
  if (r == nullptr) return absl::InvalidArgumentError("a blob fetch needs a blob_request");
  MESH_ASSIGN_OR_RETURN(cas::Cid cid, cas::Cid::Parse(r->cid));
  MESH_ASSIGN_OR_RETURN(std::unique_ptr<cas::BlobReader> reader, env_.blobs->Open(cid));
  if (r->offset > reader->size()) {
    return absl::OutOfRangeError(mesh::StrCat("offset ", r->offset, " is past the end of ", r->cid,
                                              " (", reader->size(), " bytes)"));
  }
  // Skip to the offset by reading: a BlobReader checks the hash as it goes.
  std::string skip(64 << 10, '\0');
  for (uint64_t left = r->offset; left > 0;) {
    MESH_ASSIGN_OR_RETURN(size_t n,
                          reader->Read(skip.data(), std::min<uint64_t>(left, skip.size())));
    if (n == 0) break;
    left -= n;
  }
  return std::unique_ptr<cas::ByteSource>(std::move(reader));
}

// --- Membership ---------------------------------------------------------------------------

sched::LocalCapacity MeshService::Capacity() {
  const ServiceStats stats = compute_->Stats();
  sched::LocalCapacity c;
  c.did = env_.key->did().ToString();
  c.address = transport_->address();
  c.cpu_cores = std::max(1u, std::thread::hardware_concurrency());
  c.max_concurrent = uint32_t(std::max(1, stats.max_concurrent));
  c.memory_bytes = MemoryPerSlot(stats.max_concurrent);
  c.storage_free = FreeBytes(env_.blobs->root());
  c.running = uint32_t(stats.running);
  {
    // Assignments accepted whose blobs are still being fetched are as good as queued.
    absl::MutexLock lock(&mu_);
    c.queued = uint32_t(stats.queued) + starting_;
  }
  c.draining = stats.draining;
  c.max_module_bytes = max_module_bytes_;
  c.capabilities = options_.capabilities;
  c.federations = options_.federations;
  return c;
}

job::Heartbeat MeshService::MakeHeartbeat() {
  const sched::LocalCapacity c = Capacity();
  job::Heartbeat hb;
  hb.node = c.did;
  hb.address = c.address;
  hb.cpu_cores = c.cpu_cores;
  hb.memory_bytes = c.memory_bytes;
  hb.max_concurrent = c.max_concurrent;
  hb.running = c.running;
  hb.queued = c.queued;
  hb.draining = c.draining;
  hb.capabilities = c.capabilities;
  hb.federations = c.federations;
  for (const Peer& p : peers_->Alive()) {
    if (hb.peers.size() >= 32) break;  // a sample is enough: exchange is repeated every beat
    hb.peers.push_back({p.did, p.address});
  }
  return hb;
}

void MeshService::SendHeartbeats(absl::Time now) {
  for (const Peer& p : peers_->All()) {
    // Dead peers are still tried (that is how they come back), but less often.
    if (p.state == PeerState::kDead && p.failures > 3 && (absl::ToUnixSeconds(now) % 5) != 0) {
      continue;
    }
    const absl::Time sent = env_.clock->Now();
    SendTo(p, MakeHeartbeat(), 1, [this, sent](absl::StatusOr<job::OpenedMessage> reply) {
      if (!reply.ok()) return;
      const auto* hb = std::get_if<job::Heartbeat>(&reply->message);
      if (hb == nullptr) return;
      const absl::Time now = env_.clock->Now();
      OnHeartbeat(*hb, now, now - sent);
    });
  }
}

void MeshService::OnHeartbeat(const job::Heartbeat& hb, absl::Time now,
                              std::optional<absl::Duration> rtt) {
  const bool revived = peers_->Heard(hb, now, rtt);
  if (revived) spdlog::info("mesh: peer {} at {} is alive", hb.node, hb.address);
  for (const job::PeerInfo& p : hb.peers) peers_->AddAddress(p.address, p.did);
  if (!hb.draining && uint64_t{hb.running} + hb.queued < hb.max_concurrent) {
    // Capacity is there (a peer came back, or has an idle slot): auctions that found no bidder
    // try again now rather than at the end of their backoff. At most once per heartbeat.
    absl::MutexLock lock(&mu_);
    for (auto& [id, a] : auctions_) {
      if (a->stage == Auction::Stage::kWaiting && a->waits > 0) a->retry_at = now;
    }
  }
}

void MeshService::PeersDied(const std::vector<std::string>& dids) {
  const absl::Time now = env_.clock->Now();
  absl::MutexLock lock(&mu_);
  for (const std::string& did : dids) {
    spdlog::warn("mesh: peer {} missed its heartbeats for {}; marked dead", did,
                 absl::FormatDuration(options_.dead_after));
    // Collecting too: its output is fetched from it, a fetch that would only fail when the
    // connection's keepalive gives up; a late answer finds the job moved on and is ignored.
    // (Ids first: failing a job for good erases it from auctions_.)
    std::vector<std::string> lost;
    for (const auto& [id, a] : auctions_) {
      if ((a->stage == Auction::Stage::kAssigning || a->stage == Auction::Stage::kExecuting ||
           a->stage == Auction::Stage::kCollecting) &&
          a->executor == did) {
        lost.push_back(id);
      }
    }
    for (const std::string& id : lost) {
      auto it = auctions_.find(id);
      if (it == auctions_.end()) continue;
      ExecutorFailed(*it->second,
                     mesh::StrCat("executor ", did, " died (no heartbeat for ",
                                  absl::FormatDuration(options_.dead_after), ")"),
                     now);
    }
  }
}

MeshStats MeshService::Stats() {
  MeshStats s;
  s.peers_known = peers_->All().size();
  s.peers_alive = peers_->alive_count();
  absl::MutexLock lock(&mu_);
  for (const auto& [id, a] : auctions_) {
    if (a->stage == Auction::Stage::kExecuting || a->stage == Auction::Stage::kCollecting) {
      ++s.delegated_running;
    } else {
      ++s.auctions_open;
    }
  }
  s.assigned = assignments_.size();
  return s;
}

}  // namespace mesh::node
