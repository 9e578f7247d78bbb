#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <utility>

#include "absl/base/internal/endian.h"
#include "blob_chunks.h"
#include "blob_stream.h"
#include "mesh/common/strings.h"
#include "peer_verifier.h"
#include "spdlog/spdlog.h"
#include "tcp_listen.h"

namespace mesh::net::internal {
namespace {

// The accept loop wakes at least this often to join the threads of closed connections.
constexpr int kReapEveryMs = 1000;

std::string ErrorFrame(const absl::Status& status) {
  std::string_view message(status.message().data(), status.message().size());
  message = message.substr(0, kMaxErrorBytes);
  std::string out(12, '\0');
  absl::big_endian::Store32(out.data(), kBlobStreamError);
  absl::big_endian::Store32(out.data() + 4, static_cast<uint32_t>(status.code()));
  absl::big_endian::Store32(out.data() + 8, static_cast<uint32_t>(message.size()));
  out.append(message);
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BlobStreamServer>> BlobStreamServer::Listen(
    BlobStreamServerOptions options, BlobOpener open) {
  if (options.tls == nullptr || !options.tls->server()) {
    return absl::InvalidArgumentError("the blob stream server needs a server TlsContext");
  }
  if (options.max_connections < 1) {
    return absl::InvalidArgumentError("blob stream max_connections must be at least 1");
  }
  std::string error;
  const ListeningSocket listening = ListenTcp(options.host, std::to_string(options.port), &error);
  if (listening.fd < 0) {
    return absl::UnavailableError(mesh::StrCat("cannot listen for blob streams on ", options.host,
                                               ":", options.port, " (", error,
                                               "); choose another [mesh] blob_port"));
  }
  const int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    close(listening.fd);
    return absl::InternalError(mesh::StrCat("eventfd: ", std::strerror(errno)));
  }
  std::unique_ptr<BlobStreamServer> server(new BlobStreamServer(
      listening.fd, wake, listening.port, std::move(options), std::move(open)));
  server->accept_thread_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  return server;
}

BlobStreamServer::BlobStreamServer(int listen_fd, int wake_fd, int port,
                                   BlobStreamServerOptions options, BlobOpener open)
    : listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      port_(port),
      options_(std::move(options)),
      open_(std::move(open)) {}

BlobStreamServer::~BlobStreamServer() {
  Stop();
  close(wake_fd_);
}

void BlobStreamServer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  const uint64_t one = 1;
  if (write(wake_fd_, &one, sizeof(one)) < 0) {
    // The eventfd cannot be full; the loop also wakes every kReapEveryMs.
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  close(listen_fd_);  // Connections from now on are refused, not left in the backlog.
  std::list<Connection> connections;
  {
    absl::MutexLock lock(&mu_);
    for (Connection& c : connections_) {
      absl::MutexLock cl(&c.mu);
      if (c.stream != nullptr) c.stream->Abort();
    }
    connections.splice(connections.end(), connections_);
  }
  for (Connection& c : connections) c.thread.join();
}

void BlobStreamServer::ReapLocked() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (it->done.load()) {
      it->thread.join();
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
}

void BlobStreamServer::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{.fd = listen_fd_, .events = POLLIN, .revents = 0},
                     {.fd = wake_fd_, .events = POLLIN, .revents = 0}};
    const int ready = poll(fds, 2, kReapEveryMs);
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    ReapLocked();
    if (ready <= 0 || (fds[0].revents & POLLIN) == 0) continue;
    for (;;) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) break;  // EAGAIN: drained (or EMFILE: the next poll retries)
      if (connections_.size() >= static_cast<size_t>(options_.max_connections)) {
        RefusalCounters::Count(options_.counters.handshake_cap);
        close(fd);
        continue;
      }
      Connection& c = connections_.emplace_back();
      c.thread = std::thread([this, &c, fd] {
        Serve(&c, fd);
        c.done.store(true);
      });
    }
  }
}

void BlobStreamServer::Serve(Connection* connection, int fd) {
  absl::StatusOr<std::unique_ptr<TlsStream>> made = TlsStream::ForServer(fd, options_.tls);
  if (!made.ok()) return;
  // Published before the handshake, so that Stop can cut it: the stream (and its socket) lives
  // as long as the connection's record.
  std::shared_ptr<TlsStream> stream = *std::move(made);
  {
    absl::MutexLock lock(&connection->mu);
    connection->stream = stream;
  }
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;  // Stop may have missed the stream: it was not published yet.
  }
  if (absl::Status accepted = stream->Accept(options_.handshake_timeout); !accepted.ok()) {
    if (absl::IsDeadlineExceeded(accepted)) {
      RefusalCounters::Count(options_.counters.handshake_timeout);
    }
    SPDLOG_DEBUG("blob stream: handshake failed: {}", accepted.message());
    return;
  }
  const std::string pem = stream->PeerCertificatePem();
  PeerVerifier verifier(
      PeerVerifierOptions{.who = "client", .admit = options_.admit, .counters = options_.counters});
  const std::string refusal = pem.empty() ? "" : verifier.Check(pem);
  if (pem.empty() || !refusal.empty()) {
    if (pem.empty()) RefusalCounters::Count(options_.counters.no_client_cert);
    const std::string why =
        pem.empty() ? "the connection carries no client certificate; Mesh peers authenticate "
                      "with their node certificate (mutual TLS)"
                    : mesh::StrCat("client certificate refused: ", refusal);
    stream->SetTimeout(absl::Seconds(1));
    stream->WriteAll(ErrorFrame(absl::PermissionDeniedError(why))).IgnoreError();
    return;
  }
  absl::StatusOr<crypto::DidKey> peer = DidFromCertificate(pem);
  if (!peer.ok()) return;  // Check passed, so this does not happen.
  try {
    while (ServeOne(*stream, *peer)) {
    }
  } catch (const std::exception& e) {
    RefusalCounters::Count(options_.counters.handler_errors);
    spdlog::error("blob stream: serving {} threw: {}", peer->ToString(), e.what());
    stream->WriteAll(ErrorFrame(absl::InternalError("the node failed serving the blob")))
        .IgnoreError();
  } catch (...) {
    RefusalCounters::Count(options_.counters.handler_errors);
    stream->WriteAll(ErrorFrame(absl::InternalError("the node failed serving the blob")))
        .IgnoreError();
  }
}

bool BlobStreamServer::ServeOne(TlsStream& stream, const crypto::DidKey& peer) {
  char header[8];
  stream.SetTimeout(options_.idle_timeout);
  if (!stream.ReadFull(header, sizeof(header)).ok()) return false;  // closed, idle or cut
  stream.SetTimeout(options_.io_timeout);
  if (std::memcmp(header, kBlobStreamMagic, 4) != 0) {
    stream.WriteAll(ErrorFrame(absl::InvalidArgumentError("not a blob stream request")))
        .IgnoreError();
    return false;
  }
  const uint32_t size = absl::big_endian::Load32(header + 4);
  if (size > kMaxMessageBytes) {
    RefusalCounters::Count(options_.counters.too_large);
    stream
        .WriteAll(ErrorFrame(absl::ResourceExhaustedError(
            mesh::StrCat("blob request of ", size, " bytes exceeds the message limit of ",
                         kMaxMessageBytes, " bytes"))))
        .IgnoreError();
    return false;
  }
  std::string request(size, '\0');
  if (!stream.ReadFull(request.data(), size).ok()) return false;
  RefusalCounters::Count(options_.counters.blobs_over_stream);
  absl::StatusOr<std::unique_ptr<cas::ByteSource>> source = open_(peer, request);
  if (source.ok() && *source == nullptr) source = absl::InternalError("OpenBlob returned null");
  if (!source.ok()) return stream.WriteAll(ErrorFrame(source.status())).ok();
  ChunkPrefetcher prefetch(**source);
  std::string chunk;
  for (;;) {
    absl::Status next = prefetch.Next(&chunk);
    if (!next.ok()) return stream.WriteAll(ErrorFrame(next)).ok();
    char length[4];
    absl::big_endian::Store32(length, static_cast<uint32_t>(chunk.size()));
    if (!stream.WriteAll(std::string_view(length, 4), /*flush=*/chunk.empty()).ok()) return false;
    if (chunk.empty()) return true;  // u32 0: the end
    if (!stream.WriteAll(chunk).ok()) return false;
  }
}

}  // namespace mesh::net::internal
