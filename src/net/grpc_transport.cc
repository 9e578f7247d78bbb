#include "mesh/net/grpc_transport.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpc_util.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/net/tls_identity.h"
#include "peer_client.h"
#include "peer_service.h"

namespace mesh::net {
namespace {

// How long Shutdown lets calls in progress finish before gRPC cancels them.
constexpr absl::Duration kShutdownGrace = absl::Milliseconds(500);
// A peer may ping at most this often without data (our own keepalive default is 10 s).
constexpr int kMinPeerPingIntervalMs = 1000;

// "host:port" with `port` replacing the port of `listen` ("127.0.0.1:0" -> "127.0.0.1:4242").
std::string WithPort(const std::string& listen, int port) {
  const size_t colon = listen.rfind(':');
  return mesh::StrCat(colon == std::string::npos ? listen : listen.substr(0, colon), ":", port);
}

class GrpcTransport final : public Transport {
 public:
  GrpcTransport(TlsIdentity identity, GrpcTransportOptions options)
      : identity_(std::move(identity)),
        options_(std::move(options)),
        refused_(internal::RefusalCounters::Register(options_.metrics)),
        client_(identity_, options_),
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

    auto certificates = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
        std::vector<grpc::experimental::IdentityKeyCertPair>{
            {.private_key = identity_.key_pem, .certificate_chain = identity_.cert_pem}});
    grpc::experimental::TlsServerCredentialsOptions tls(certificates);
    tls.watch_identity_key_cert_pairs();
    // Node certificates are self-signed: the TLS layer only makes the client present one (and
    // prove its key); PeerService checks it and the DID on every call.
    tls.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);

    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(options_.listen, grpc::experimental::TlsServerCredentials(tls), &port);
    // Two nodes on one port would split the traffic between them: refuse the second.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.RegisterService(service_.get());
    builder.SetMaxReceiveMessageSize(internal::kMaxFrameBytes);
    builder.SetMaxSendMessageSize(internal::kMaxFrameBytes);
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
                                std::max(options_.server_threads, 2));
    grpc::ResourceQuota quota("mesh-net-server");
    quota.SetMaxThreads(options_.max_server_threads);
    builder.SetResourceQuota(quota);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || port == 0) {
      server_.reset();
      service_.reset();
      return absl::UnavailableError(
          mesh::StrCat("cannot listen on ", options_.listen,
                       " (address in use or not local?); choose another --listen address"));
    }
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
    {
      absl::MutexLock lock(&mu_);
      shut_down_ = true;
      server = std::move(server_);
    }
    if (server != nullptr) {
      // Waits for handler calls in progress; cancels what is still running after the grace.
      server->Shutdown(internal::DeadlineAfter(kShutdownGrace));
      server->Wait();
    }
  }

 private:
  TlsIdentity identity_;
  const GrpcTransportOptions options_;
  const internal::RefusalCounters refused_;
  internal::PeerClient client_;

  mutable absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::string address_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<internal::PeerService> service_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Server> server_ ABSL_GUARDED_BY(mu_);
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
  MESH_ASSIGN_OR_RETURN(TlsIdentity identity, MakeTlsIdentity(key, absl::Now()));
  return std::unique_ptr<Transport>(new GrpcTransport(std::move(identity), std::move(options)));
}

}  // namespace mesh::net
