// Length-prefixed frames on a stream socket: the transport between the worker pool and its
// worker processes. A frame is a u32 little-endian body length followed by the body; bodies
// larger than the reader's limit are refused before any of it is read, and a stream that ends
// inside a frame is reported as truncated.
//
// Frames are built in place: NewFrame() reserves the header, the caller appends the body and
// SealFrame() writes the length, so a frame leaves in one send().
//
// Error codes: OutOfRange = the peer closed the stream cleanly between frames; DataLoss = it
// closed inside a frame (truncated); ResourceExhausted = a frame over the size limit;
// DeadlineExceeded = the deadline passed; Unavailable = the peer is gone (EPIPE, ECONNRESET);
// Internal = other I/O errors. Stateless functions; callers serialise use of one fd.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "mesh/common/file_util.h"

namespace mesh::exec {

using Deadline = std::chrono::steady_clock::time_point;
inline constexpr Deadline kNoDeadline = Deadline::max();

inline constexpr size_t kFrameHeaderBytes = 4;
// Default cap on a frame body: room for a module, its input and its output in one message.
inline constexpr uint64_t kDefaultMaxFrameBytes = 512ull << 20;

// A frame holding only the header placeholder; append the body, then SealFrame().
std::string NewFrame();
// Writes the body length into the header. InvalidArgument if the body is over 4 GiB - 1.
absl::Status SealFrame(std::string& frame);

// Sends a sealed frame. Works on blocking and non-blocking sockets; never raises SIGPIPE.
absl::Status WriteFrame(int fd, std::string_view frame, Deadline deadline = kNoDeadline);

// Reads one frame and returns its body (without the header).
absl::StatusOr<std::string> ReadFrame(int fd, uint64_t max_body_bytes,
                                      Deadline deadline = kNoDeadline);

// File descriptors that may travel with one frame (SCM_RIGHTS on a Unix socket).
inline constexpr size_t kMaxFrameFds = 8;

// Like WriteFrame, with `fds` (at most kMaxFrameFds) attached to the frame's first bytes; the
// receiver gets its own descriptors for the same open files.
absl::Status WriteFrameWithFds(int fd, std::string_view frame, const std::vector<int>& fds,
                               Deadline deadline = kNoDeadline);

// Like ReadFrame, and the descriptors that came with the frame (close-on-exec) go to `*fds`. A
// frame that carried more than `max_fds` (at most kMaxFrameFds), or whose descriptors could not
// all be received (the open-file limit), is read to its end and refused: ResourceExhausted,
// with no descriptor kept.
absl::StatusOr<std::string> ReadFrameWithFds(int fd, uint64_t max_body_bytes, size_t max_fds,
                                             std::vector<ScopedFd>* fds,
                                             Deadline deadline = kNoDeadline);

}  // namespace mesh::exec
