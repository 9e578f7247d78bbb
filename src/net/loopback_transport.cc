#include "mesh/net/loopback_transport.h"

#include <algorithm>
#include <utility>

#include "blob_chunks.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/common/task_pool.h"

namespace mesh::net {

struct LoopbackNetwork::Node {
  crypto::DidKey did;
  Handler* handler;
  int pinned = 0;  // Calls in progress; guarded by the network's mu_.
};

LoopbackNetwork::LoopbackNetwork(int delivery_threads)
    : pool_(std::make_unique<TaskPool>(delivery_threads)) {}

LoopbackNetwork::~LoopbackNetwork() { pool_.reset(); }

void LoopbackNetwork::SetAlive(std::string_view address, bool alive) {
  absl::MutexLock lock(&mu_);
  if (alive) {
    dead_.erase(ToAbsl(address));
  } else {
    dead_.emplace(address);
  }
}

absl::StatusOr<std::shared_ptr<LoopbackNetwork::Node>> LoopbackNetwork::Acquire(
    const Endpoint& to) {
  absl::MutexLock lock(&mu_);
  if (dead_.contains(to.address)) {
    return absl::UnavailableError(mesh::StrCat("peer ", to.address, " is down"));
  }
  auto it = nodes_.find(to.address);
  if (it == nodes_.end()) {
    return absl::UnavailableError(mesh::StrCat("no node is listening at ", to.address));
  }
  if (to.did.has_value() && !(it->second->did == *to.did)) {
    return absl::PermissionDeniedError(mesh::StrCat("peer at ", to.address, " is ",
                                                    it->second->did.ToString(), ", expected ",
                                                    to.did->ToString()));
  }
  ++it->second->pinned;
  return it->second;
}

void LoopbackNetwork::Release(Node* node) {
  absl::MutexLock lock(&mu_);
  --node->pinned;
}

absl::Status LoopbackNetwork::Register(const std::string& address, const crypto::DidKey& did,
                                       Handler* handler) {
  absl::MutexLock lock(&mu_);
  auto node = std::make_shared<Node>(Node{did, handler});
  if (!nodes_.emplace(address, std::move(node)).second) {
    return absl::AlreadyExistsError(
        mesh::StrCat("a node is already listening at loopback address ", address));
  }
  return absl::OkStatus();
}

void LoopbackNetwork::Unregister(const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(address);
  if (it == nodes_.end()) return;
  std::shared_ptr<Node> node = std::move(it->second);
  nodes_.erase(it);
  mu_.Await(absl::Condition(
      +[](Node* n) { return n->pinned == 0; }, node.get()));
}

LoopbackTransport::LoopbackTransport(LoopbackNetwork* network, crypto::DidKey self,
                                     std::string address)
    : network_(network), self_(self), address_(std::move(address)) {}

LoopbackTransport::~LoopbackTransport() { Shutdown(); }

absl::Status LoopbackTransport::Start(Handler* handler) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return absl::FailedPreconditionError("the transport is shut down");
  if (started_) return absl::FailedPreconditionError("the transport already started");
  if (handler == nullptr) return absl::InvalidArgumentError("Start needs a Handler");
  MESH_RETURN_IF_ERROR(network_->Register(address_, self_, handler));
  started_ = true;
  return absl::OkStatus();
}

void LoopbackTransport::Send(const Endpoint& to, std::string envelope, int ttl,
                             absl::Duration /*timeout*/, ReplyCallback done) {
  bool tracked = false;
  {
    absl::MutexLock lock(&mu_);
    if (!shut_down_) {
      tracked = true;
      ++in_flight_;
    }
  }
  if (!tracked) {
    network_->pool_->Post(
        [done = std::move(done)] { done(absl::CancelledError("the transport is shut down")); });
    return;
  }
  network_->pool_->Post([this, to, envelope = std::move(envelope), ttl, done = std::move(done)] {
    Deliver(to, envelope, ttl, done);
    Finished();
  });
}

void LoopbackTransport::Deliver(const Endpoint& to, const std::string& envelope, int ttl,
                                const ReplyCallback& done) {
  if (envelope.size() > kMaxMessageBytes) {
    done(absl::ResourceExhaustedError(mesh::StrCat(
        "envelope of ", envelope.size(), " bytes for peer ", to.address,
        " exceeds the message limit of ", kMaxMessageBytes, " bytes; send data as a blob")));
    return;
  }
  bool cancelled;
  {
    absl::MutexLock lock(&mu_);
    cancelled = shut_down_;
  }
  if (cancelled) {
    done(absl::CancelledError("the transport is shut down"));
    return;
  }
  absl::StatusOr<std::shared_ptr<LoopbackNetwork::Node>> node = network_->Acquire(to);
  if (!node.ok()) {
    done(node.status());
    return;
  }
  absl::StatusOr<std::string> reply =
      (*node)->handler->OnMessage(self_, envelope, std::clamp(ttl, 0, kMaxTtl));
  network_->Release(node->get());
  if (reply.ok() && reply->size() > kMaxMessageBytes) {
    reply = absl::ResourceExhaustedError(
        mesh::StrCat("the reply of ", reply->size(), " bytes from ", to.address,
                     " exceeds the message limit of ", kMaxMessageBytes, " bytes"));
  }
  done(std::move(reply));
}

void LoopbackTransport::Finished() {
  absl::MutexLock lock(&mu_);
  --in_flight_;
}

absl::Status LoopbackTransport::FetchBlob(const Endpoint& from, std::string request,
                                          absl::Duration timeout, const ChunkSink& sink) {
  if (request.size() > kMaxMessageBytes) {
    return absl::ResourceExhaustedError(mesh::StrCat("blob request of ", request.size(),
                                                     " bytes exceeds the message limit of ",
                                                     kMaxMessageBytes, " bytes"));
  }
  const absl::Time deadline = absl::Now() + timeout;
  auto cancelled = [this] {
    absl::MutexLock lock(&mu_);
    return shut_down_;
  };
  if (cancelled()) return absl::CancelledError("the transport is shut down");
  MESH_ASSIGN_OR_RETURN(std::shared_ptr<LoopbackNetwork::Node> node, network_->Acquire(from));
  absl::Status result = [&]() -> absl::Status {
    MESH_ASSIGN_OR_RETURN(std::unique_ptr<cas::ByteSource> source,
                          node->handler->OpenBlob(self_, request));
    if (source == nullptr) return absl::InternalError("OpenBlob returned null");
    std::string chunk;
    for (;;) {
      MESH_ASSIGN_OR_RETURN(size_t n, internal::ReadChunk(*source, &chunk));
      if (n == 0) return absl::OkStatus();
      if (cancelled()) return absl::CancelledError("the transport is shut down");
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(mesh::StrCat("fetching a blob from ", from.address,
                                                        " took longer than ",
                                                        absl::FormatDuration(timeout)));
      }
      MESH_RETURN_IF_ERROR(sink(chunk));
    }
  }();
  network_->Release(node.get());
  return result;
}

void LoopbackTransport::Shutdown() {
  bool registered;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    registered = started_;
    started_ = false;
  }
  if (registered) network_->Unregister(address_);
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](int* n) { return *n == 0; }, &in_flight_));
}

}  // namespace mesh::net
