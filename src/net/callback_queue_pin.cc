#include "callback_queue_pin.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <mutex>

#include "mesh_peer.grpc.pb.h"

namespace mesh::net::internal {

void PinCallbackQueue() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Never destroyed: the channel's reference on the queue is the point. The call only makes
    // the channel take that reference (gRPC takes it at a channel's first callback call); it
    // fails at once, as nothing listens at that path, and its completion frees nothing.
    struct Pin {
      std::shared_ptr<grpc::Channel> channel;
      std::unique_ptr<pb::MeshPeer::Stub> stub;
      grpc::ClientContext context;
      pb::Frame request, reply;
    };
    auto* pin = new Pin;
    pin->channel = grpc::CreateChannel("unix:/nonexistent/mesh-callback-queue-pin",
                                       grpc::InsecureChannelCredentials());
    pin->stub = pb::MeshPeer::NewStub(pin->channel);
    pin->context.set_deadline(std::chrono::system_clock::now());
    pin->stub->async()->Deliver(&pin->context, &pin->request, &pin->reply, [](grpc::Status) {});
  });
}

}  // namespace mesh::net::internal
