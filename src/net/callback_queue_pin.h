// Private to the net module: a workaround for gRPC 1.51 (Debian bookworm's), whose callback API
// runs completions on one process-wide "callback alternative" completion queue (its epoll
// engine does not poll in the background), counted by the channels that have used it.
//
// The defect: when a completion running on one of that queue's threads drops the last channel
// that counts, the queue is shut down and deleted under the thread that is running it (the
// thread cannot join itself), and that thread then frees the deleted queue again on its next
// poll: "double free or corruption (fasttop)", or under ASan a double-free in
// grpc_cq_internal_unref on a "nexting_thread". Every node of a process shares the queue; the
// aborts seen (SplitTest and MeshTest under ctest, split_bench) came as a node shut down: a
// call's completion freed its call after PeerClient::Shutdown had dropped the peers' channels,
// so the last channel of the process went on that thread. Shutdown now waits for the calls to be
// freed; this pin keeps any other way there (an evicted channel, a future caller) harmless.
//
// PinCallbackQueue makes one channel, never destroyed, use the queue once: its count never
// falls to zero, so the queue is never deleted while the process runs. Idempotent and
// thread-safe; the channel targets a Unix socket that does not exist and sends nothing.
#pragma once

namespace mesh::net::internal {

void PinCallbackQueue();

}  // namespace mesh::net::internal
