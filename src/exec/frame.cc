#include "mesh/exec/frame.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

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

// Control-message room for kMaxFrameFds descriptors.
constexpr size_t kFdControlBytes = CMSG_SPACE(sizeof(int) * kMaxFrameFds);

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

absl::Status WriteFrameWithFds(int fd, std::string_view frame, const std::vector<int>& fds,
                               Deadline deadline) {
  if (fds.empty()) return WriteFrame(fd, frame, deadline);
  if (fds.size() > kMaxFrameFds || frame.empty()) {
    return absl::InvalidArgumentError(
        mesh::StrCat("a frame carries 1 to ", kMaxFrameFds, " descriptors, not ", fds.size()));
  }
  // The descriptors ride on the first send; the rest of the frame follows as usual.
  alignas(cmsghdr) char control[kFdControlBytes] = {};
  while (true) {
    if (deadline != kNoDeadline) {
      if (absl::Status s = WaitReady(fd, POLLOUT, deadline); !s.ok()) return s;
    }
    iovec iov = {const_cast<char*>(frame.data()), frame.size()};
    msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n > 0) return WriteFrame(fd, frame.substr(static_cast<size_t>(n)), deadline);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (absl::Status s = WaitReady(fd, POLLOUT, deadline); !s.ok()) return s;
    } else if (n < 0 && errno != EINTR) {
      return IoError(errno, "write frame");
    }
  }
}

absl::StatusOr<std::string> ReadFrameWithFds(int fd, uint64_t max_body_bytes, size_t max_fds,
                                             std::vector<ScopedFd>* fds, Deadline deadline) {
  fds->clear();
  char header[kFrameHeaderBytes];
  size_t got = 0;
  bool refused = false;  // more descriptors than allowed, or some were lost (MSG_CTRUNC)
  // The header comes through recvmsg: the descriptors travel with a frame's first bytes.
  while (got < sizeof(header)) {
    if (deadline != kNoDeadline) {
      if (absl::Status s = WaitReady(fd, POLLIN, deadline); !s.ok()) return s;
    }
    alignas(cmsghdr) char control[kFdControlBytes];
    iovec iov = {header + got, sizeof(header) - got};
    msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (absl::Status s = WaitReady(fd, POLLIN, deadline); !s.ok()) return s;
        continue;
      }
      return IoError(errno, "read frame");
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int received;
        std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        fds->emplace_back(received);
      }
    }
    if ((msg.msg_flags & MSG_CTRUNC) != 0) refused = true;
    if (n == 0) {
      fds->clear();
      if (got == 0) return absl::OutOfRangeError("the peer closed the connection");
      return absl::DataLossError(
          mesh::StrCat("truncated frame: the stream ended after ", got, " of 4 header bytes"));
    }
    got += static_cast<size_t>(n);
  }
  if (fds->size() > std::min(max_fds, kMaxFrameFds)) refused = true;
  uint64_t size = 0;
  for (size_t i = 0; i < kFrameHeaderBytes; ++i) {
    size |= static_cast<uint64_t>(static_cast<uint8_t>(header[i])) << (8 * i);
  }
  if (size > max_body_bytes) {
    fds->clear();
    return absl::ResourceExhaustedError(
        mesh::StrCat("frame of ", size, " bytes exceeds the limit of ", max_body_bytes, " bytes"));
  }
  std::string body(size, '\0');
  absl::StatusOr<size_t> read = ReadFull(fd, body.data(), size, deadline);
  if (!read.ok() || *read < size) fds->clear();
  if (!read.ok()) return read.status();
  if (*read < size) {
    return absl::DataLossError(mesh::StrCat("truncated frame: the stream ended after ", *read,
                                            " of ", size, " body bytes"));
  }
  if (refused) {
    const size_t count = fds->size();
    fds->clear();
    return absl::ResourceExhaustedError(mesh::StrCat(
        "a frame carried more file descriptors than the ", std::min(max_fds, kMaxFrameFds),
        " allowed, or more than this process may open (", count, " received)"));
  }
  return body;
}

}  // namespace mesh::exec
