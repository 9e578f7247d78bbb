#include "mesh/exec/frame.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "mesh/common/strings.h"

namespace mesh::exec {
namespace {

// Waits until `fd` is ready for `events` or the deadline passes.
absl::Status WaitReady(int fd, short events, Deadline deadline) {
  while (true) {
    timespec ts;
    timespec* timeout = nullptr;
    if (deadline != kNoDeadline) {
      const auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero()) {
        return absl::DeadlineExceededError("deadline passed while waiting for the peer");
      }
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      ts.tv_sec = ns / 1000000000;
      ts.tv_nsec = ns % 1000000000;
      timeout = &ts;
    }
    pollfd p = {fd, events, 0};
    const int n = ::ppoll(&p, 1, timeout, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(mesh::StrCat("poll: ", std::strerror(errno)));
    }
    if (n > 0) return absl::OkStatus();  // ready, or hung up: the read/write tells which
  }
}

absl::Status IoError(int err, std::string_view op) {
  if (err == EPIPE || err == ECONNRESET) {
    return absl::UnavailableError(mesh::StrCat(op, ": the peer closed the connection"));
  }
  return absl::InternalError(mesh::StrCat(op, ": ", std::strerror(err)));
}

// Reads exactly `size` bytes. Returns how many were read before a clean end of stream.
absl::StatusOr<size_t> ReadFull(int fd, char* out, size_t size, Deadline deadline) {
  size_t got = 0;
  while (got < size) {
    if (deadline != kNoDeadline) {
      if (absl::Status s = WaitReady(fd, POLLIN, deadline); !s.ok()) return s;
    }
    const ssize_t n = ::read(fd, out + got, size - got);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n == 0) {
      return got;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (absl::Status s = WaitReady(fd, POLLIN, deadline); !s.ok()) return s;
    } else if (errno != EINTR) {
      return IoError(errno, "read frame");
    }
  }
  return got;
}

}  // namespace

std::string NewFrame() { return std::string(kFrameHeaderBytes, '\0'); }

absl::Status SealFrame(std::string& frame) {
  if (frame.size() < kFrameHeaderBytes) {
    return absl::InvalidArgumentError("frame lacks its header; build it with NewFrame()");
  }
  const uint64_t body = frame.size() - kFrameHeaderBytes;
  if (body > UINT32_MAX) {
    return absl::InvalidArgumentError(
        mesh::StrCat("frame body of ", body, " bytes does not fit the 32-bit length prefix"));
  }
  for (size_t i = 0; i < kFrameHeaderBytes; ++i) {
    frame[i] = static_cast<char>((body >> (8 * i)) & 0xff);
  }
  return absl::OkStatus();
}

absl::Status WriteFrame(int fd, std::string_view frame, Deadline deadline) {
  while (!frame.empty()) {
    if (deadline != kNoDeadline) {
      if (absl::Status s = WaitReady(fd, POLLOUT, deadline); !s.ok()) return s;
    }
    const ssize_t n = ::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      frame.remove_prefix(static_cast<size_t>(n));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (absl::Status s = WaitReady(fd, POLLOUT, deadline); !s.ok()) return s;
    } else if (errno != EINTR) {
      return IoError(errno, "write frame");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFrame(int fd, uint64_t max_body_bytes, Deadline deadline) {
  char header[kFrameHeaderBytes];
  absl::StatusOr<size_t> got = ReadFull(fd, header, sizeof(header), deadline);
  if (!got.ok()) return got.status();
  if (*got == 0) return absl::OutOfRangeError("the peer closed the connection");
  if (*got < sizeof(header)) {
    return absl::DataLossError(
        mesh::StrCat("truncated frame: the stream ended after ", *got, " of 4 header bytes"));
  }
  uint64_t size = 0;
  for (size_t i = 0; i < kFrameHeaderBytes; ++i) {
    size |= static_cast<uint64_t>(static_cast<uint8_t>(header[i])) << (8 * i);
  }
  if (size > max_body_bytes) {
    return absl::ResourceExhaustedError(
        mesh::StrCat("frame of ", size, " bytes exceeds the limit of ", max_body_bytes, " bytes"));
  }
  std::string body(size, '\0');
  got = ReadFull(fd, body.data(), size, deadline);
  if (!got.ok()) return got.status();
  if (*got < size) {
    return absl::DataLossError(mesh::StrCat("truncated frame: the stream ended after ", *got,
                                            " of ", size, " body bytes"));
  }
  return body;
}

}  // namespace mesh::exec
