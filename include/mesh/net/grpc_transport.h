// GrpcTransport: the daemon's Transport, gRPC over mutual TLS where each side's certificate is
// its node identity (see tls_identity.h). There is no CA: both sides check the other's
// certificate in a custom TLS verifier, inside the handshake, so anything but a node
// certificate (Ed25519, self-signed, naming its own did:key) whose DID `admit` accepts never
// gets a connection: RSA/ECDSA/foreign certificates, a missing client certificate, a node
// outside the allow-list, and (client side) a server other than the DID the Endpoint names.
// Each refusal is counted by reason. Handshakes have a deadline and a cap on how many may be in
// progress at once (the server accepts connections itself; see handshake_gate.h). Every call
// re-derives the caller's DID from its certificate, and handler exceptions become INTERNAL.
//
// One channel per (address, expected DID) is cached and reused, and a second one for FetchBlob:
// blob streams get their own mTLS connection (same certificate check) with a larger HTTP/2
// window and frames, so they neither wait behind messages nor delay them. Once a peer's gRPC
// FetchBlob reply has named its blob port, its blobs come over the blob stream instead (TLS
// without HTTP/2: see src/net/blob_stream.h), and over gRPC again if that port does not answer.
// Keepalive pings notice dead peers, and reconnects back off from 100 ms to 5 s. Send never blocks
// (gRPC callback API, wait_for_ready off so a dead peer fails fast with Unavailable); FetchBlob
// blocks its caller. Handler calls run on the server's thread pool. Thread-safe; Shutdown (also run
// by the destructor) cancels the client's calls in flight and waits for handler calls in progress,
// so ReplyCallbacks must not call Shutdown or destroy the transport.
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
  // Optional allow-list: a peer for which it returns false fails the TLS handshake, as a client
  // of this node and as a server it dials (the caller sees PermissionDenied). Unset = any node.
  // Called on gRPC threads, concurrently.
  std::function<bool(const crypto::DidKey&)> admit;
  // Receives mesh_net_refused_total{reason} (no_client_cert, not_ed25519, not_node_cert,
  // did_not_allowed, did_mismatch, handshake_timeout, handshake_cap, too_large) and
  // mesh_net_handler_errors_total; a registry holds one GrpcTransport's metrics (names are
  // unique per registry). Must outlive the transport. (A frame more than 16 KiB over
  // kMaxMessageBytes is refused by gRPC's own size limit before the service sees it, with
  // ResourceExhausted too, but is not counted.)
  MetricsRegistry* metrics = nullptr;
  // A connection that has not finished its TLS handshake this long after it was accepted is
  // closed (gRPC's default is 120 s). 100 ms .. 5 min.
  absl::Duration handshake_timeout = absl::Seconds(10);
  // At most this many accepted connections may be in their handshake at once; beyond it new
  // connections are closed at accept. Established connections do not count. 1 .. 100000.
  int max_handshakes = 256;
  // Ping an idle connection this often; drop it when a ping is unanswered for keepalive_timeout.
  absl::Duration keepalive = absl::Seconds(10);
  absl::Duration keepalive_timeout = absl::Seconds(5);
  // Server threads kept polling for calls; gRPC adds threads under load up to
  // max_server_threads (beyond that new calls are refused with ResourceExhausted).
  int server_threads = 2;
  int max_server_threads = 64;
  // A thread that has served a call goes back to polling while fewer than this many poll, and
  // exits otherwise. gRPC starts a thread whenever a call leaves fewer than server_threads
  // polling, so with this equal to server_threads every call started and ended a thread (each
  // a dozen system calls). server_threads .. max_server_threads.
  int idle_server_threads = 8;
  // Blobs on a TLS connection of their own besides the gRPC port (the "blob stream": plain
  // length-prefixed chunks inside TLS 1.3, same certificates and checks, about twice gRPC's
  // throughput); peers learn its port from this node's gRPC FetchBlob replies. false = every
  // blob over gRPC.
  bool blob_stream = true;
  // The blob stream's port on the listen host; 0 = any free port. 0 .. 65535.
  int blob_port = 0;
  // Blob stream connections open at once (each is a thread while it serves); beyond it new
  // ones are closed at accept (counted handshake_cap). 1 .. 4096.
  int max_blob_connections = 64;
};

// Builds the node's TLS identity from `key` (copied into the transport; `key` need not outlive
// it). InvalidArgument for unusable options. Call Start() to serve.
absl::StatusOr<std::unique_ptr<Transport>> MakeGrpcTransport(const crypto::KeyPair& key,
                                                             GrpcTransportOptions options);

}  // namespace mesh::net
