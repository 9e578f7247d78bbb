// The gRPC 1.51 defect callback_queue_pin.h works around, reproduced: a channel dropped by its
// own completion. Each test runs in a process of its own under ctest, so the channel here is
// the only one that counts on the shared completion queue.
#include "callback_queue_pin.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "mesh_peer.grpc.pb.h"

namespace mesh::net::internal {
namespace {

namespace pb = ::mesh::net::pb;

// Makes `rounds` callback calls, each on a fresh channel whose only reference its completion
// drops. Without the pin, the first completion deletes the shared queue under the thread running
// it, and that thread's next poll frees it again: the process aborts (double free, or gRPC's
// "prior > 0" refcount check) in most runs of this test; with it, never.
void DropChannelsFromTheirOwnCompletions(int rounds) {
  for (int i = 0; i < rounds; ++i) {
    struct Call {
      std::shared_ptr<grpc::Channel> channel;
      std::unique_ptr<pb::MeshPeer::Stub> stub;
      grpc::ClientContext context;
      pb::Frame request, reply;
    };
    auto* call = new Call;
    call->channel = grpc::CreateChannel("unix:/nonexistent/mesh-callback-queue-test",
                                        grpc::InsecureChannelCredentials());
    call->stub = pb::MeshPeer::NewStub(call->channel);
    call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    absl::Notification done;
    grpc::StatusCode code = grpc::StatusCode::OK;
    call->stub->async()->Deliver(&call->context, &call->request, &call->reply,
                                 [call, &done, &code](grpc::Status status) {
                                   code = status.error_code();
                                   delete call;  // The channel's last reference goes here.
                                   done.Notify();
                                 });
    done.WaitForNotification();
    EXPECT_NE(code, grpc::StatusCode::OK);  // Nothing listens there.
  }
}

TEST(CallbackQueuePinTest, AChannelDroppedByItsOwnCompletionLeavesTheProcessRunning) {
  PinCallbackQueue();
  PinCallbackQueue();  // Idempotent.
  DropChannelsFromTheirOwnCompletions(8);
}

}  // namespace
}  // namespace mesh::net::internal
