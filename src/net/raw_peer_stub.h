// Test-only: a raw MeshPeer client that presents any certificate (or none) and accepts any
// server, as a foreign or forged client would, plus certificate forging helpers, and the real
// transport started on loopback the way the transport tests use it. Header-only.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "mesh/crypto/key_pair.h"
#include "mesh/net/grpc_transport.h"
#include "mesh/net/tls_identity.h"
#include "mesh_peer.grpc.pb.h"

namespace mesh::net::testing {

// A gRPC transport for `key`, started with `handler` unless it is null (a client only); a test
// failure and null if either step fails.
inline std::unique_ptr<Transport> StartTransport(const crypto::KeyPair& key, Handler* handler,
                                                 GrpcTransportOptions options = {}) {
  absl::StatusOr<std::unique_ptr<Transport>> t = MakeGrpcTransport(key, std::move(options));
  EXPECT_TRUE(t.ok()) << t.status();
  if (!t.ok()) return nullptr;
  if (handler != nullptr) {
    absl::Status s = (*t)->Start(handler);
    EXPECT_TRUE(s.ok()) << s;
  }
  return *std::move(t);
}

// `cert` empty = no client certificate at all.
inline std::unique_ptr<pb::MeshPeer::Stub> RawStub(const std::string& address,
                                                   const std::string& cert,
                                                   const std::string& key) {
  namespace gx = grpc::experimental;
  gx::TlsChannelCredentialsOptions tls;
  if (!cert.empty()) {
    auto provider = std::make_shared<gx::StaticDataCertificateProvider>(
        std::vector<gx::IdentityKeyCertPair>{{.private_key = key, .certificate_chain = cert}});
    tls.set_certificate_provider(provider);
    tls.watch_identity_key_cert_pairs();
  }
  tls.set_verify_server_certs(false);
  tls.set_check_call_host(false);
  tls.set_certificate_verifier(std::make_shared<gx::NoOpCertificateVerifier>());
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxSendMessageSize(-1);
  args.SetSslTargetNameOverride(kNodeTlsServerName);
  return pb::MeshPeer::NewStub(grpc::CreateCustomChannel(address, gx::TlsCredentials(tls), args));
}

inline grpc::Status RawDeliver(pb::MeshPeer::Stub& stub, std::string envelope) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  pb::Frame request;
  request.set_envelope(std::move(envelope));
  pb::Frame reply;
  return stub.Deliver(&context, request, &reply);
}

}  // namespace mesh::net::testing
