#include "peer_client.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <atomic>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "callback_queue_pin.h"
#include "grpc_util.h"
#include "mesh/common/host_port.h"
#include "mesh/common/strings.h"
#include "mesh_peer.grpc.pb.h"
#include "peer_verifier.h"

namespace mesh::net::internal {
namespace {

// Channels cached at most; beyond it an idle one is dropped (a node talks to a bounded set).
constexpr size_t kMaxChannels = 1024;
// How long one connection attempt to a peer may take.
constexpr int kConnectTimeoutMs = 10000;
// The blob connection's HTTP/2 receive window (see BlobChannelArgs).
constexpr int kBlobWindowBytes = 8 << 20;

grpc::ChannelArguments ChannelArgs(const GrpcTransportOptions& options) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.keepalive)));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.keepalive_timeout)));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  // Not a backoff in gRPC 1.51 but the floor of each connection attempt's deadline (TCP, TLS
  // and the first SETTINGS frame). At 100 ms a peer busy with many handshakes, or far away,
  // could never be reached; the server's own handshake deadline is 10 s by default.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, kConnectTimeoutMs);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  args.SetMaxReceiveMessageSize(kMaxFrameBytes);
  args.SetMaxSendMessageSize(kMaxFrameBytes);
  // A connection belongs to the channel whose verifier accepted it: never let a channel for
  // another expected DID (or none) pick it up from gRPC's global subchannel pool.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // SNI: the one name every node certificate carries (else the server logs a mismatch for
  // each connection). Identity is checked by DidVerifier, not by this name.
  args.SetSslTargetNameOverride(kNodeTlsServerName);
  return args;
}

// A blob stream gets a connection of its own, with the same credentials and the same
// PeerVerifier as the messages' one: a large transfer then neither waits behind the node's
// messages nor delays them (HTTP/2 shares one connection's window and writes among its
// streams), and this connection's HTTP/2 settings can suit bulk data.
grpc::ChannelArguments BlobChannelArgs(const GrpcTransportOptions& options) {
  grpc::ChannelArguments args = ChannelArgs(options);
  args.SetInt("mesh.blob_channel", 1);  // Never the messages' subchannel.
  // A fixed receive window instead of BDP probing: on a fast link the probe keeps the window
  // small, so the sender stalls for WINDOW_UPDATEs; a fetch then buffers at most this much.
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, kBlobWindowBytes);
  // Let the server send a whole chunk as one DATA frame (HTTP/2's default is 16 KiB).
  args.SetInt(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, static_cast<int>(kBlobChunkBytes));
  return args;
}

}  // namespace

struct PeerClient::Peer {
  std::string address;
  std::shared_ptr<VerifierLog> log;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::MeshPeer::Stub> stub;
  // The peer's blob port, learned from its FetchBlob replies (0: none known), and the port
  // that last did not answer with until when (Unix ns) not to use it again.
  std::atomic<int> blob_port{0};
  std::atomic<int> blob_dead_port{0};
  std::atomic<int64_t> blob_retry_after{0};
  // FetchBlob's own connection (BlobChannelArgs); connects on the first fetch.
  std::shared_ptr<grpc::Channel> blob_channel;
  std::unique_ptr<pb::MeshPeer::Stub> blob_stub;

  absl::Status Explain(const grpc::Status& status) const {
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      std::string refusal = log->LastRefusal();
      if (!refusal.empty()) return absl::PermissionDeniedError(refusal);
    }
    return FromGrpcStatus(status, mesh::StrCat("peer ", address));
  }
};

PeerClient::PeerClient(const TlsIdentity& identity, const GrpcTransportOptions& options,
                       RefusalCounters refused, std::unique_ptr<BlobStreamClient> blob_streams)
    : certificates_(std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
          std::vector<grpc::experimental::IdentityKeyCertPair>{
              {.private_key = identity.key_pem, .certificate_chain = identity.cert_pem}})),
      options_(options),
      refused_(refused),
      blob_streams_(std::move(blob_streams)) {}

PeerClient::~PeerClient() { Shutdown(); }

std::shared_ptr<PeerClient::Peer> PeerClient::GetPeer(const Endpoint& to) {
  const std::string key =
      to.did.has_value() ? mesh::StrCat(to.address, " ", to.did->ToString()) : to.address;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return nullptr;
    auto it = peers_.find(key);
    if (it != peers_.end()) return it->second;
  }
  auto peer = std::make_shared<Peer>();
  peer->address = to.address;
  peer->log = std::make_shared<VerifierLog>();
  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_certificate_provider(certificates_);
  tls.watch_identity_key_cert_pairs();
  // No CA and no hostname in node certificates: PeerVerifier is the whole server check.
  tls.set_verify_server_certs(false);
  tls.set_check_call_host(false);
  tls.set_certificate_verifier(
      grpc::experimental::ExternalCertificateVerifier::Create<PeerVerifier>(
          PeerVerifierOptions{.who = mesh::StrCat("peer at ", to.address),
                              .expected = to.did,
                              .admit = options_.admit,
                              .counters = refused_,
                              .log = peer->log}));
  const std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::experimental::TlsCredentials(tls);
  peer->channel = grpc::CreateCustomChannel(to.address, credentials, ChannelArgs(options_));
  peer->stub = pb::MeshPeer::NewStub(peer->channel);
  peer->blob_channel =
      grpc::CreateCustomChannel(to.address, credentials, BlobChannelArgs(options_));
  peer->blob_stub = pb::MeshPeer::NewStub(peer->blob_channel);

  std::shared_ptr<Peer> evicted;  // Destroyed after the lock is released.
  absl::MutexLock lock(&mu_);
  if (shutdown_) return nullptr;
  auto [it, inserted] = peers_.emplace(key, peer);
  if (inserted && peers_.size() > kMaxChannels) {
    for (auto e = peers_.begin(); e != peers_.end(); ++e) {
      if (e != it && e->second.use_count() == 1) {
        evicted = std::move(e->second);
        peers_.erase(e);
        break;
      }
    }
  }
  return it->second;
}

bool PeerClient::Register(uint64_t* id, std::shared_ptr<grpc::ClientContext> context) {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return false;
  *id = next_call_id_++;
  in_flight_.emplace(*id, std::move(context));
  return true;
}

void PeerClient::Unregister(uint64_t id) {
  std::shared_ptr<grpc::ClientContext> context;
  {
    absl::MutexLock lock(&mu_);
    auto it = in_flight_.find(id);
    if (it == in_flight_.end() || it->second == nullptr) return;
    context = std::move(it->second);  // The entry stays, empty, until the call is freed.
  }
  // Outside the lock (the call's destruction may take gRPC's locks), and before the entry goes:
  // Shutdown, which waits for in_flight_ to empty, then frees the peers' channels itself, not
  // a completion thread after it has returned.
  context.reset();
  absl::MutexLock lock(&mu_);
  in_flight_.erase(id);
}

void PeerClient::Fail(ReplyCallback done, absl::Status status) {
  local_failures_.Post([done = std::move(done), status = std::move(status)] { done(status); });
}

void PeerClient::Send(const Endpoint& to, std::string envelope, int ttl, absl::Duration timeout,
                      ReplyCallback done) {
  if (envelope.size() > kMaxMessageBytes) {
    Fail(std::move(done),
         absl::ResourceExhaustedError(mesh::StrCat(
             "envelope of ", envelope.size(), " bytes for peer ", to.address,
             " exceeds the message limit of ", kMaxMessageBytes, " bytes; send data as a blob")));
    return;
  }
  std::shared_ptr<Peer> peer = GetPeer(to);
  if (peer == nullptr) {
    Fail(std::move(done), absl::CancelledError("the transport is shut down"));
    return;
  }
  // Before the first callback call of the process: a completion below may drop the last
  // reference to a peer's channel (see callback_queue_pin.h).
  PinCallbackQueue();
  // Owned by in_flight_ until the completion has run `done`.
  struct Call {
    grpc::ClientContext context;
    pb::Frame request;
    pb::Frame reply;
    std::shared_ptr<Peer> peer;
    ReplyCallback done;
  };
  auto call = std::make_shared<Call>();
  call->context.set_deadline(DeadlineAfter(timeout));
  call->context.set_wait_for_ready(false);  // A dead peer fails fast, not at the deadline.
  call->request.set_envelope(std::move(envelope));
  call->request.set_ttl(ttl);
  call->peer = std::move(peer);
  call->done = std::move(done);
  Call* raw = call.get();
  uint64_t id = 0;
  if (!Register(&id, std::shared_ptr<grpc::ClientContext>(call, &call->context))) {
    Fail(std::move(call->done), absl::CancelledError("the transport is shut down"));
    return;
  }
  call.reset();
  raw->peer->stub->async()->Deliver(
      &raw->context, &raw->request, &raw->reply, [this, raw, id](grpc::Status status) {
        absl::StatusOr<std::string> result =
            status.ok() ? absl::StatusOr<std::string>(std::move(*raw->reply.mutable_envelope()))
                        : absl::StatusOr<std::string>(raw->peer->Explain(status));
        raw->done(std::move(result));
        Unregister(id);  // May free *raw; `this` stays valid until in_flight_ is empty.
      });
}

absl::Status PeerClient::FetchBlob(const Endpoint& from, std::string request,
                                   absl::Duration timeout, const ChunkSink& sink) {
  if (request.size() > kMaxMessageBytes) {
    return absl::ResourceExhaustedError(mesh::StrCat("blob request of ", request.size(),
                                                     " bytes exceeds the message limit of ",
                                                     kMaxMessageBytes, " bytes"));
  }
  std::shared_ptr<Peer> peer = GetPeer(from);
  if (peer == nullptr) return absl::CancelledError("the transport is shut down");
  const int port = peer->blob_port.load();
  const std::optional<HostPort> host = SplitHostPort(from.address);
  if (blob_streams_ != nullptr && port > 0 && host.has_value()) {
    BlobStreamClient::Path path = BlobStreamClient::Path::kAnswered;
    absl::Status fetched = blob_streams_->Fetch(std::string(host->host), port, from.did, request,
                                                timeout, sink, &path);
    if (path == BlobStreamClient::Path::kAnswered) return fetched;
    if (path == BlobStreamClient::Path::kNoListener) {
      // Nothing answers on the blob port (a firewall, a NAT forwarding only the main port):
      // gRPC, and not that port again for a while (a new one, after the peer restarted, is
      // used as soon as a reply names it).
      peer->blob_port.store(0);
      peer->blob_dead_port.store(port);
      peer->blob_retry_after.store(absl::ToUnixNanos(absl::Now() + kBlobStreamRetryAfter));
    }
    // kBusy (a full blob server, or one holding its connections): gRPC this time.
  }
  return FetchBlobOverGrpc(*peer, std::move(request), timeout, sink);
}

absl::Status PeerClient::FetchBlobOverGrpc(Peer& peer, std::string request, absl::Duration timeout,
                                           const ChunkSink& sink) {
  auto context = std::make_shared<grpc::ClientContext>();
  context->set_deadline(DeadlineAfter(timeout));
  context->set_wait_for_ready(false);
  uint64_t id = 0;
  if (!Register(&id, context)) return absl::CancelledError("the transport is shut down");
  pb::Frame frame;
  frame.set_envelope(std::move(request));
  std::unique_ptr<grpc::ClientReader<pb::BlobChunk>> reader =
      peer.blob_stub->FetchBlob(context.get(), frame);
  pb::BlobChunk chunk;
  absl::Status sink_status;
  while (reader->Read(&chunk)) {
    sink_status = sink(chunk.data());
    if (!sink_status.ok()) {
      context->TryCancel();
      break;
    }
  }
  const grpc::Status status = reader->Finish();
  reader.reset();
  if (blob_streams_ != nullptr) {
    const auto& metadata = context->GetServerInitialMetadata();
    auto named = metadata.find(kBlobPortMetadata);
    int port = 0;
    const bool set_aside = absl::ToUnixNanos(absl::Now()) < peer.blob_retry_after.load();
    if (named != metadata.end() &&
        absl::SimpleAtoi(absl::string_view(named->second.data(), named->second.size()), &port) &&
        port > 0 && port <= 65535 && !(set_aside && port == peer.blob_dead_port.load())) {
      peer.blob_port.store(port);
    }
  }
  Unregister(id);
  if (!sink_status.ok()) return sink_status;
  return peer.Explain(status);
}

void PeerClient::Shutdown() {
  std::vector<std::shared_ptr<grpc::ClientContext>> calls;
  absl::flat_hash_map<std::string, std::shared_ptr<Peer>> peers;
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    for (const auto& [id, context] : in_flight_) {
      if (context != nullptr) calls.push_back(context);  // null: ending (Unregister)
    }
    peers.swap(peers_);
  }
  // Outside the lock: gRPC may run a cancelled call's completion inline, which Unregisters.
  for (const auto& context : calls) context->TryCancel();
  calls.clear();
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](absl::flat_hash_map<uint64_t, std::shared_ptr<grpc::ClientContext>>* m) {
          return m->empty();
        },
        &in_flight_));
  }
  local_failures_.Drain();
  if (blob_streams_ != nullptr) blob_streams_->Shutdown();
}

}  // namespace mesh::net::internal
