#include "mesh/net/grpc_transport.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/crypto.h>

#include <grpc/support/log.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "blob_stream.h"
#include "grpc_util.h"
#include "handshake_gate.h"
#include "mesh/common/host_port.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/net/tls_identity.h"
#include "peer_client.h"
#include "peer_service.h"
#include "peer_verifier.h"
#include "refusal_counters.h"

namespace mesh::net {
namespace {

// How long Shutdown lets calls in progress finish before gRPC cancels them.
constexpr absl::Duration kShutdownGrace = absl::Milliseconds(500);
// A peer may ping at most this often without data (our own keepalive default is 10 s).
constexpr int kMinPeerPingIntervalMs = 1000;
// Concurrent calls one peer connection may have open (gRPC's default is unlimited).
constexpr int kMaxStreamsPerConnection = 128;
// Request headers a peer may send (our calls carry a few hundred bytes).
constexpr int kMaxMetadataBytes = 16 << 10;

// "host:port" with `port` replacing the port of `listen` ("127.0.0.1:0" -> "127.0.0.1:4242").
std::string WithPort(const std::string& listen, int port) {
  const size_t colon = listen.rfind(':');
  return mesh::StrCat(colon == std::string::npos ? listen : listen.substr(0, colon), ":", port);
}

// gRPC writes one ERROR line for every handshake that times out ("cancel_check_peer error:
// ... Handshake timed out"), so a peer opening half-open connections would fill the node's log
// at its own pace. Those are counted (handshake_timeout) instead; every other line is written
// as gRPC's default logger would. gRPC's log hook is process-wide: installed once, never removed.
void GrpcLogWithoutHandshakeTimeouts(gpr_log_func_args* args) {
  if (args->message != nullptr && std::strstr(args->message, "cancel_check_peer") != nullptr) {
    return;
  }
  const char* file = args->file != nullptr ? args->file : "?";
  const char* slash = std::strrchr(file, '/');
  std::fprintf(stderr, "%s %s:%d] %s\n", gpr_log_severity_string(args->severity),
               slash != nullptr ? slash + 1 : file, args->line,
               args->message != nullptr ? args->message : "");
}

class GrpcTransport final : public Transport {
 public:
  GrpcTransport(TlsIdentity identity, GrpcTransportOptions options,
                std::shared_ptr<const internal::TlsContext> client_tls)
      : identity_(std::move(identity)),
        options_(std::move(options)),
        refused_(internal::RefusalCounters::Register(options_.metrics)),
        client_(identity_, options_, refused_,
                client_tls == nullptr ? nullptr
                                      : std::make_unique<internal::BlobStreamClient>(
                                            client_tls, options_.admit, refused_)),
        address_(options_.advertise.empty() ? options_.listen : options_.advertise) {}

  ~GrpcTransport() override {
    Shutdown();
    OPENSSL_cleanse(identity_.key_pem.data(), identity_.key_pem.size());
  }

  absl::Status Start(Handler* handler) override {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::FailedPreconditionError("the transport is shut down");
    if (server_ != nullptr) return absl::FailedPreconditionError("the transport already started");
    if (handler == nullptr) return absl::InvalidArgumentError("Start needs a Handler");
    service_ = std::make_unique<internal::PeerService>(handler, options_.admit, refused_);
    absl::StatusOr<std::unique_ptr<internal::HandshakeGate>> gate =
        internal::HandshakeGate::Listen(options_.listen, {.deadline = options_.handshake_timeout,
                                                          .max_pending = options_.max_handshakes,
                                                          .counters = refused_});
    if (!gate.ok()) {
      service_.reset();
      return gate.status();
    }
    gate_ = *std::move(gate);
    if (options_.blob_stream) {
      absl::Status started = StartBlobStream(handler);
      if (!started.ok()) {
        gate_.reset();
        service_.reset();
        return started;
      }
    }

    auto certificates = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
        std::vector<grpc::experimental::IdentityKeyCertPair>{
            {.private_key = identity_.key_pem, .certificate_chain = identity_.cert_pem}});
    grpc::experimental::TlsServerCredentialsOptions tls(certificates);
    tls.watch_identity_key_cert_pairs();
    // Node certificates are self-signed, so OpenSSL checks no chain; PeerVerifier decides inside
    // the handshake. "Request", not "require": a client without a certificate then reaches the
    // verifier too, which refuses and counts it (no_client_cert) instead of OpenSSL alone.
    tls.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
    // The verifier may outlive this object inside gRPC's credentials: it shares the gate.
    std::shared_ptr<internal::HandshakeGate> gate_ref = gate_;
    tls.set_certificate_verifier(
        grpc::experimental::ExternalCertificateVerifier::Create<internal::PeerVerifier>(
            internal::PeerVerifierOptions{.who = "client",
                                          .admit = options_.admit,
                                          .counters = refused_,
                                          .on_checked = [gate_ref] { gate_ref->OnChecked(); }}));

    grpc::ServerBuilder builder;
    // The gate accepts connections and hands them over (see handshake_gate.h).
    std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor =
        builder.experimental().AddExternalConnectionAcceptor(
            grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD,
            grpc::experimental::TlsServerCredentials(tls));
    builder.RegisterService(service_.get());
    builder.SetMaxReceiveMessageSize(internal::kMaxFrameBytes);
    builder.SetMaxSendMessageSize(internal::kMaxFrameBytes);
    builder.AddChannelArgument(
        GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
        static_cast<int>(absl::ToInt64Milliseconds(options_.handshake_timeout)));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxStreamsPerConnection);
    builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, kMaxMetadataBytes);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                               static_cast<int>(absl::ToInt64Milliseconds(options_.keepalive)));
    builder.AddChannelArgument(
        GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
        static_cast<int>(absl::ToInt64Milliseconds(options_.keepalive_timeout)));
    // Peers keep idle connections alive with pings: allow them (the default policy would
    // answer a ping every 10 s with GOAWAY "too_many_pings").
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                               kMinPeerPingIntervalMs);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS,
                                options_.server_threads);
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                                options_.idle_server_threads);
    grpc::ResourceQuota quota("mesh-net-server");
    quota.SetMaxThreads(options_.max_server_threads);
    builder.SetResourceQuota(quota);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr) {
      gate_.reset();
      service_.reset();
      return absl::InternalError(
          mesh::StrCat("the gRPC server for ", options_.listen, " did not start"));
    }
    gate_->Start(std::move(acceptor));
    const int port = gate_->port();
    if (options_.advertise.empty()) address_ = WithPort(options_.listen, port);
    return absl::OkStatus();
  }

  std::string address() const override {
    absl::MutexLock lock(&mu_);
    return address_;
  }

  void Send(const Endpoint& to, std::string envelope, int ttl, absl::Duration timeout,
            ReplyCallback done) override {
    client_.Send(to, std::move(envelope), ttl, timeout, std::move(done));
  }

  absl::Status FetchBlob(const Endpoint& from, std::string request, absl::Duration timeout,
                         const ChunkSink& sink) override {
    return client_.FetchBlob(from, std::move(request), timeout, sink);
  }

  void Shutdown() override {
    client_.Shutdown();
    std::unique_ptr<grpc::Server> server;
    std::shared_ptr<internal::HandshakeGate> gate;
    {
      absl::MutexLock lock(&mu_);
      shut_down_ = true;
      server = std::move(server_);
      gate = std::move(gate_);
    }
    std::unique_ptr<internal::BlobStreamServer> blob_streams;
    {
      absl::MutexLock lock(&mu_);
      blob_streams = std::move(blob_streams_);
    }
    if (gate != nullptr) gate->Stop();  // No new connections first.
    if (blob_streams != nullptr) blob_streams->Stop();
    if (server != nullptr) {
      // Waits for handler calls in progress; cancels what is still running after the grace.
      server->Shutdown(internal::DeadlineAfter(kShutdownGrace));
      server->Wait();
    }
  }

 private:
  absl::Status StartBlobStream(Handler* handler) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    MESH_ASSIGN_OR_RETURN(std::shared_ptr<const internal::TlsContext> tls,
                          internal::TlsContext::Create(identity_, /*server=*/true));
    const std::optional<HostPort> listen = SplitHostPort(options_.listen);
    MESH_ASSIGN_OR_RETURN(blob_streams_,
                          internal::BlobStreamServer::Listen(
                              {.host = listen.has_value() ? std::string(listen->host) : "",
                               .port = options_.blob_port,
                               .tls = std::move(tls),
                               .admit = options_.admit,
                               .counters = refused_,
                               .handshake_timeout = options_.handshake_timeout,
                               .max_connections = options_.max_blob_connections},
                              [handler](const crypto::DidKey& peer, std::string_view request) {
                                return handler->OpenBlob(peer, request);
                              }));
    service_->set_blob_port(blob_streams_->port());
    return absl::OkStatus();
  }

  TlsIdentity identity_;
  const GrpcTransportOptions options_;
  const internal::RefusalCounters refused_;
  internal::PeerClient client_;

  mutable absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::string address_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<internal::PeerService> service_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Server> server_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<internal::BlobStreamServer> blob_streams_ ABSL_GUARDED_BY(mu_);
  // shared_ptr: the server's certificate verifier (owned by gRPC) reports to it too.
  std::shared_ptr<internal::HandshakeGate> gate_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> MakeGrpcTransport(const crypto::KeyPair& key,
                                                             GrpcTransportOptions options) {
  if (options.listen.empty()) {
    return absl::InvalidArgumentError("GrpcTransportOptions.listen is empty; use host:port");
  }
  if (options.keepalive < absl::Seconds(1) || options.keepalive_timeout < absl::Milliseconds(100)) {
    return absl::InvalidArgumentError(
        "GrpcTransportOptions.keepalive must be at least 1 s and keepalive_timeout 100 ms");
  }
  if (options.server_threads < 1 || options.max_server_threads < options.server_threads + 1) {
    return absl::InvalidArgumentError(mesh::StrCat(
        "GrpcTransportOptions: server_threads (", options.server_threads,
        ") must be >= 1 and max_server_threads (", options.max_server_threads, ") larger than it"));
  }
  if (options.idle_server_threads < options.server_threads ||
      options.idle_server_threads > options.max_server_threads) {
    return absl::InvalidArgumentError(
        mesh::StrCat("GrpcTransportOptions: idle_server_threads (", options.idle_server_threads,
                     ") must be between server_threads (", options.server_threads,
                     ") and max_server_threads (", options.max_server_threads, ")"));
  }
  if (options.handshake_timeout < absl::Milliseconds(100) ||
      options.handshake_timeout > absl::Minutes(5)) {
    return absl::InvalidArgumentError(mesh::StrCat("mesh handshake_timeout is ",
                                                   absl::FormatDuration(options.handshake_timeout),
                                                   "; use 100ms to 5m (default 10s)"));
  }
  if (options.max_handshakes < 1 || options.max_handshakes > 100000) {
    return absl::InvalidArgumentError(mesh::StrCat(
        "mesh max_handshakes is ", options.max_handshakes, "; use 1 to 100000 (default 256)"));
  }
  if (options.blob_port < 0 || options.blob_port > 65535) {
    return absl::InvalidArgumentError(
        mesh::StrCat("mesh blob_port is ", options.blob_port, "; use 0 (any free port) to 65535"));
  }
  if (options.max_blob_connections < 1 || options.max_blob_connections > 4096) {
    return absl::InvalidArgumentError(mesh::StrCat("mesh max_blob_connections is ",
                                                   options.max_blob_connections,
                                                   "; use 1 to 4096 (default 64)"));
  }
  MESH_ASSIGN_OR_RETURN(TlsIdentity identity, MakeTlsIdentity(key, absl::Now()));
  std::shared_ptr<const internal::TlsContext> client_tls;
  if (options.blob_stream) {
    MESH_ASSIGN_OR_RETURN(client_tls, internal::TlsContext::Create(identity, /*server=*/false));
  }
  static std::once_flag log_filter;
  std::call_once(log_filter, [] { gpr_set_log_function(GrpcLogWithoutHandshakeTimeouts); });
  return std::unique_ptr<Transport>(
      new GrpcTransport(std::move(identity), std::move(options), std::move(client_tls)));
}

}  // namespace mesh::net
