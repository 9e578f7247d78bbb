// MeshService: construction, envelopes, stepping the core, and the compute service's side
// (Delegator). Membership is in mesh_membership.cc, the actions in mesh_actions.cc.
#include "mesh/node/mesh_service.h"
#include "mesh/node/stored_inputs.h"

#include <cstdlib>

#include "mesh/common/check.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/node/blob_transfer.h"
#include "mesh/node/gossip_wire.h"
#include "mesh/node/market_records.h"
#include "mesh/node/settlement.h"
#include "spdlog/spdlog.h"

namespace mesh::node {

namespace {

// The nodes the market may ask beyond its live peers: the peer table's passive view.
class PassiveView final : public market::Directory {
 public:
  explicit PassiveView(const PeerTable* peers) : peers_(peers) {}
  std::vector<market::KnownNode> Beyond() const override { return peers_->Passive(); }

 private:
  const PeerTable* peers_;
};

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
      envelopes_(*env.key, *env.clock, *env.rng, *env.metrics, options_.max_message_age),
      metrics_(*env.metrics),
      trust_(MakeTrustView(env.settlement, env.specs)),
      directory_(std::make_unique<PassiveView>(peers_.get())),
      scheduler_(std::make_unique<RealScheduler>(*env.clock)),
      fetches_(std::make_unique<TaskPool>(2)) {
  MESH_CHECK(env_.host != nullptr);
  env_.metrics->AddGaugeCallback("mesh_peers_alive", "Peers in the active view",
                                 [this] { return double(Stats().peers_alive); });
  env_.metrics->AddGaugeCallback("mesh_peers_known", "Peers in the active and passive views",
                                 [this] { return double(Stats().peers_known); });
  env_.metrics->AddGaugeCallback(
      "mesh_market_auctions_open",
      "Delegated jobs being placed, waiting for bids, or running elsewhere", [this] {
        const MeshStats s = Stats();
        return double(s.auctions_open + s.delegated_running);
      });
  for (const std::string& address : options_.peers) peers_->AddAddress(address);
}

MeshService::~MeshService() { Stop(); }

absl::Status MeshService::Start() {
  MESH_RETURN_IF_ERROR(transport_->Start(this));
  started_ = true;
  {
    absl::MutexLock lock(&mu_);
    market_ = std::make_unique<market::Market>(
        MarketOptionsOf(options_, env_.key->did().ToString(), transport_->address()), trust_.get(),
        env_.rng, directory_.get());
  }
  {
    absl::MutexLock lock(&members_mu_);
    // Its own generator: the market's is used under mu_, this one under members_mu_.
    members_rng_ = std::make_unique<SeededRng>(env_.rng->Next64());
    members_ = std::make_unique<membership::Membership>(MembershipOptionsOf(options_), Self(),
                                                        members_rng_.get());
  }
  // The peers saved from the last run (known by DID) are the seed list; bootstrap addresses
  // join it when they answer a hello (Beat).
  StepMembers(membership::Start{peers_->Contacts()});
  scheduler_->Post([this] {
    executor_thread_ = std::this_thread::get_id();
    Beat();
  });
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
  if (started_) Leave();
  scheduler_->Stop();
  // Cancels the calls in flight, so that a fetch blocked on one ends now.
  if (started_) transport_->Shutdown();
  fetches_->Stop(TaskPool::Pending::kDrop);
  if (absl::Status s = peers_->Save(); !s.ok()) {
    spdlog::warn("mesh: cannot save the peer table: {}", s.ToString());
  }
}

MeshStats MeshService::Stats() {
  MeshStats s;
  s.peers_alive = peers_->alive_count();
  {
    absl::MutexLock lock(&members_mu_);
    s.peers_known = known_;
  }
  absl::MutexLock lock(&mu_);
  if (market_ == nullptr) return s;
  const market::MarketStats m = market_->Stats();
  s.auctions_open = m.auctions_open;
  s.delegated_running = m.delegated_running;
  s.assigned = m.assigned;
  return s;
}

// --- Messages and steps ---------------------------------------------------------------------

std::optional<market::Send> MeshService::Feed(market::Input input,
                                              std::shared_ptr<absl::Notification> carried_out) {
  absl::MutexLock lock(&mu_);
  return FeedLocked(std::move(input), std::move(carried_out));
}

std::optional<market::Send> MeshService::FeedLocked(
    market::Input input, std::shared_ptr<absl::Notification> carried_out) {
  if (market_ == nullptr || stopping_) {
    if (carried_out != nullptr) carried_out->Notify();
    return std::nullopt;
  }
  Actions actions = market_->Step(env_.clock->Now(), std::move(input));
  std::optional<market::Send> reply;
  for (const market::Action& action : actions) {
    submitting_ += std::holds_alternative<market::RunHere>(action) ? 1 : 0;
  }
  for (auto it = actions.begin(); it != actions.end(); ++it) {
    if (auto* send = std::get_if<market::Send>(&*it); send != nullptr && send->reply) {
      reply = std::move(*send);
      actions.erase(it);
      break;
    }
  }
  // Queued under mu_: the executor carries out the steps' actions in the order of the steps,
  // the steps that wait for it together (one transaction for their writes: Drain).
  if (!actions.empty() || carried_out != nullptr) {
    pending_.push_back({std::move(actions), std::move(carried_out)});
    if (!drain_queued_) {
      drain_queued_ = true;
      scheduler_->Post([this] { Drain(); });
    }
  }
  return reply;
}

absl::StatusOr<std::string> MeshService::OnMessage(const crypto::DidKey& peer,
                                                   std::string_view envelope, int ttl) {
  MESH_ASSIGN_OR_RETURN(job::OpenedMessage opened, envelopes_.Open(envelope, peer));
  const absl::Time now = env_.clock->Now();
  peers_->Touch(peer.ToString(), now);
  std::string module;  // whose refusal the core must know before it answers
  if (const auto* hb = std::get_if<job::Heartbeat>(&opened.message)) {
    OnHeartbeat(*hb, now, std::nullopt);
    return envelopes_.Seal(MakeHeartbeat());
  } else if (const auto* gossip = std::get_if<job::Gossip>(&opened.message)) {
    MESH_ASSIGN_OR_RETURN(membership::Message m, MembershipMessageOf(*gossip));
    // The sender is the TLS-authenticated peer (the envelope's author, checked by Open).
    StepMembers(membership::Received{{peer.ToString(), gossip->address}, std::move(m)});
    return std::string();
  } else if (const auto* an = std::get_if<job::Announce>(&opened.message)) {
    if (an->origin == env_.key->did().ToString()) return std::string();  // ours, relayed back
    MESH_RETURN_IF_ERROR(envelopes_.CheckAnnounce(*an));
    module = an->module_cid;
  } else if (const auto* as = std::get_if<job::Assignment>(&opened.message)) {
    absl::StatusOr<job::SignedJobSpec> spec = job::OpenSpecThrough(env_.specs, as->spec_envelope);
    if (spec.ok()) module = spec->spec.module;
  } else if (std::holds_alternative<job::StoreShards>(opened.message) ||
             std::holds_alternative<job::DropShards>(opened.message) ||
             std::holds_alternative<job::AuditChallenge>(opened.message)) {
    return OnStorageMessage(peer, opened.message);
  } else if (std::holds_alternative<job::Decline>(opened.message) ||
             std::holds_alternative<job::AssignmentAck>(opened.message) ||
             std::holds_alternative<job::BlobRequest>(opened.message) ||
             std::holds_alternative<job::ShardsHeld>(opened.message) ||
             std::holds_alternative<job::AuditProof>(opened.message)) {
    return absl::InvalidArgumentError(
        mesh::StrCat("a ", job::MessageName(opened.message), " is not a request"));
  }
  if (std::holds_alternative<job::Announce>(opened.message) ||
      std::holds_alternative<job::Assignment>(opened.message)) {
    RefreshCapacity(module);
  }
  market::Received received{.from = peer.ToString(), .message = std::move(opened.message)};
  received.envelope = opened.envelope.Serialize();
  received.envelope_cid = cas::Cid::Of(received.envelope).ToString();
  received.ttl = ttl;
  std::optional<market::Send> reply = Feed(std::move(received));
  if (!reply.has_value() || !reply->message.has_value()) return std::string();
  return envelopes_.Seal(*std::move(reply->message));
}

absl::StatusOr<std::unique_ptr<cas::ByteSource>> MeshService::OpenBlob(const crypto::DidKey& peer,
                                                                       std::string_view request) {
  MESH_ASSIGN_OR_RETURN(job::OpenedMessage opened, envelopes_.Open(request, peer));
  const auto* r = std::get_if<job::BlobRequest>(&opened.message);
  if (r == nullptr) return absl::InvalidArgumentError("a blob fetch needs a blob_request");
  if (staging_ != nullptr || holder_ != nullptr) {
    // Shards being placed, then shards held for others: served as they are (the fetcher
    // checks them); any other blob through the blob store's verifying reader.
    MESH_ASSIGN_OR_RETURN(cas::Cid cid, cas::Cid::Parse(r->cid));
    std::optional<std::unique_ptr<cas::ByteSource>> shard;
    if (staging_ != nullptr) {
      MESH_ASSIGN_OR_RETURN(shard, staging_->Open(cid, r->offset));
    }
    if (!shard.has_value() && holder_ != nullptr) {
      MESH_ASSIGN_OR_RETURN(shard, holder_->OpenHeld(cid, r->offset));
    }
    if (shard.has_value()) return *std::move(shard);
  }
  return OpenBlobAt(*env_.blobs, r->cid, r->offset);
}

// --- Delegator ------------------------------------------------------------------------------

bool MeshService::ShouldDelegate(JobRecord& job) {
  const uint64_t module_bytes = BlobSize(*env_.blobs, job.spec.module);
  const uint64_t input_bytes = InputBytes(*env_.blobs, job.spec);
  RefreshCapacity();
  absl::MutexLock lock(&mu_);
  if (market_ == nullptr) return false;
  const sched::Placement placement = market_->Place(job.spec, module_bytes, input_bytes);
  job.placement_reason = placement.reason;
  return !placement.local;
}

void MeshService::Take(const JobRecord& job) {
  if (stored_inputs_ != nullptr) stored_inputs_->Register(job.id, job.spec.inputs);
  Feed(market::JobHanded{TicketOf(job, *env_.blobs, *env_.jobs)});
}

bool MeshService::Cancel(const std::string& id) {
  {
    absl::MutexLock lock(&mu_);
    if (market_ == nullptr || !market_->Holds(id)) return false;
  }
  // The caller reads the job's end from the store when this returns: wait for the step's
  // actions, unless this is the executor itself (a Finish that cancels a split job's chunks).
  if (std::this_thread::get_id() == executor_thread_) {
    Feed(market::JobCancelled{id});
    return true;
  }
  auto done = std::make_shared<absl::Notification>();
  Feed(market::JobCancelled{id}, done);
  // Bounded: a Stop meanwhile drops the queued actions.
  done->WaitForNotificationWithTimeout(absl::Seconds(30));
  return true;
}

void MeshService::OnProgress(const JobRecord& job, const wasm::ProgressRecord& p) {
  if (job.role != job::JobRole::kAssigned) return;
  Feed(market::LocalProgress{job.id, job.peer, job.peer_address, job.round, double(p.percent),
                             p.message});
}

void MeshService::OnArtifact(const JobRecord& job, std::string_view kind, uint32_t index,
                             const std::string& cid, uint64_t bytes, uint64_t fuel) {
  if (job.role != job::JobRole::kAssigned) return;
  Feed(market::LocalArtifact{job.id, job.peer, job.peer_address, job.round, std::string(kind),
                             index, cid, bytes, fuel});
}

void MeshService::OnFinished(const JobRecord& job) {
  if (job.role != job::JobRole::kAssigned) return;
  if (stored_inputs_ != nullptr) stored_inputs_->Forget(job.id);
  Feed(market::LocalEnded{RunEndOf(job, *env_.blobs)});
}

}  // namespace mesh::node
