// LoopbackTransport: Transport between nodes in one process, for tests and the simulator. A
// LoopbackNetwork is the shared "wire": a registry of address -> (DID, Handler) with a small
// thread pool that runs deliveries, so Send's callback is asynchronous as with gRPC. Peer DIDs
// are taken from the registry (no TLS: in-process nodes are trusted to be who they registered
// as). SetAlive(address, false) makes a node unreachable (Unavailable), as a crashed peer.
// Send's timeout is not enforced (a handler always answers); FetchBlob's is, between chunks.
//
// Thread-safe. The network must outlive its transports. Shutdown (also run by the destructor)
// unregisters the node, waits for handler calls into it and for its own deliveries in flight
// (queued ones get Cancelled); ReplyCallbacks and Handlers must not call Shutdown.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mesh/crypto/did_key.h"
#include "mesh/net/transport.h"

namespace mesh {
class TaskPool;
}

namespace mesh::net {

class LoopbackNetwork {
 public:
  explicit LoopbackNetwork(int delivery_threads = 2);
  ~LoopbackNetwork();
  LoopbackNetwork(const LoopbackNetwork&) = delete;
  LoopbackNetwork& operator=(const LoopbackNetwork&) = delete;

  // A dead address refuses Send and FetchBlob with Unavailable until revived. Applies whether
  // or not a node is registered there yet.
  void SetAlive(std::string_view address, bool alive);

 private:
  friend class LoopbackTransport;
  struct Node;
  // Pins the node a call goes to until Release; ok only when it is alive, registered and (if
  // `to.did` is set) has that DID.
  absl::StatusOr<std::shared_ptr<Node>> Acquire(const Endpoint& to);
  void Release(Node* node);
  absl::Status Register(const std::string& address, const crypto::DidKey& did, Handler* handler);
  // Waits until no call is pinned to the node.
  void Unregister(const std::string& address);

  std::unique_ptr<TaskPool> pool_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Node>> nodes_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> dead_ ABSL_GUARDED_BY(mu_);
};

class LoopbackTransport final : public Transport {
 public:
  // `self` is the DID handlers at other nodes see as the sender; `address` any unique name.
  LoopbackTransport(LoopbackNetwork* network, crypto::DidKey self, std::string address);
  ~LoopbackTransport() override;

  absl::Status Start(Handler* handler) override;
  std::string address() const override { return address_; }
  void Send(const Endpoint& to, std::string envelope, int ttl, absl::Duration timeout,
            ReplyCallback done) override;
  absl::Status FetchBlob(const Endpoint& from, std::string request, absl::Duration timeout,
                         const ChunkSink& sink) override;
  void Shutdown() override;

 private:
  void Deliver(const Endpoint& to, const std::string& envelope, int ttl, const ReplyCallback& done);
  void Finished();

  LoopbackNetwork* const network_;
  const crypto::DidKey self_;
  const std::string address_;

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // Deliveries posted and not yet finished.
};

}  // namespace mesh::net
