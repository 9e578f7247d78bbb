// Private to the net module: a workaround for gRPC 1.51 (Debian bookworm's), whose callback API
// runs completions on one process-wide "callback alternative" completion queue (its epoll
// engine does not poll in the background), counted by the channels that have used it.
//
// The defect: when a completion running on one of that queue's threads drops the last channel
// that counts, the queue is shut down and deleted under the thread that is running it (the
// thread cannot join itself), and that thread then frees the deleted queue again on its next
// poll: "double free or corruption (fasttop)", or under ASan a double-free in
// grpc_cq_internal_unref on a "nexting_thread". A node drops channels from completions (a
// call's end may release the last reference to a peer's channel), and every node of a process
// shares the queue, so any of them could abort the process.
//
// PinCallbackQueue makes one channel, never destroyed, use the queue once: its count never
// falls to zero, so the queue is never deleted while the process runs. Idempotent and
// thread-safe; the channel targets a Unix socket that does not exist and sends nothing.
#pragma once

namespace mesh::net::internal {

void PinCallbackQueue();

}  // namespace mesh::net::internal
