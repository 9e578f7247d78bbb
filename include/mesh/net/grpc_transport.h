// GrpcTransport: the daemon's Transport, gRPC over mutual TLS where each side's certificate is
// its node identity (see tls_identity.h). There is no CA: the server requests a client
// certificate without chain verification and, on every call, derives the caller's did:key from
// it (refusing certificates that are not node certificates, and DIDs `admit` rejects); the
// client checks the server's certificate in a custom TLS verifier and, when the Endpoint names
// a DID, refuses any other key during the handshake.
//
// One channel per (address, expected DID) is cached and reused; keepalive pings notice dead
// peers, and reconnects back off from 100 ms to 5 s. Send never blocks (gRPC callback API,
// wait_for_ready off so a dead peer fails fast with Unavailable); FetchBlob blocks its caller.
// Handler calls run on the server's thread pool. Thread-safe; Shutdown (also run by the
// destructor) cancels the client's calls in flight and waits for handler calls in progress, so
// ReplyCallbacks must not call Shutdown or destroy the transport.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mesh/common/metrics.h"
#include "mesh/crypto/did_key.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/net/transport.h"

namespace mesh::net {

struct GrpcTransportOptions {
  // "host:port" to listen on; port 0 picks a free port (address() reports it).
  std::string listen = "127.0.0.1:0";
  // The address peers should use; empty = the bound address (set it when listening on 0.0.0.0).
  std::string advertise;
  // Optional allow-list: a peer for which it returns false is refused with PermissionDenied.
  // Called on server threads, concurrently.
  std::function<bool(const crypto::DidKey&)> admit;
  // Receives mesh_net_refused_total{reason="certificate"|"not_admitted"|"too_large"}; a
  // registry holds one GrpcTransport's metrics (names are unique per registry). Must outlive
  // the transport. (A frame more than 16 KiB over kMaxMessageBytes is refused by gRPC's own
  // size limit before the service sees it, with ResourceExhausted too, but is not counted.)
  MetricsRegistry* metrics = nullptr;
  // Ping an idle connection this often; drop it when a ping is unanswered for keepalive_timeout.
  absl::Duration keepalive = absl::Seconds(10);
  absl::Duration keepalive_timeout = absl::Seconds(5);
  // Server threads kept polling for calls; gRPC adds threads under load up to
  // max_server_threads (beyond that new calls are refused with ResourceExhausted).
  int server_threads = 2;
  int max_server_threads = 64;
};

// Builds the node's TLS identity from `key` (copied into the transport; `key` need not outlive
// it). InvalidArgument for unusable options. Call Start() to serve.
absl::StatusOr<std::unique_ptr<Transport>> MakeGrpcTransport(const crypto::KeyPair& key,
                                                             GrpcTransportOptions options);

}  // namespace mesh::net
