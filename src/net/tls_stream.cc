#include "tls_stream.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>

#include "mesh/common/strings.h"
#include "x509_builder.h"

namespace mesh::net::internal {
namespace {

// OpenSSL's socket BIO writes with write(2): a peer that closed its end would raise SIGPIPE and
// end the process. A process that speaks to peers never wants that signal's default action,
// so the first TlsContext sets it to ignored (unless the program chose a handler itself).
void IgnoreSigpipeOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current = {};
    if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
      signal(SIGPIPE, SIG_IGN);
    }
  });
}

void SetSocketTimeout(int fd, absl::Duration timeout) {
  timeout = std::clamp(timeout, absl::Milliseconds(1), absl::Hours(24));
  const timeval tv = absl::ToTimeval(timeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

void SetBlocking(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// A non-blocking connect to one address, waited for with poll. The socket, or -1 and `*error`.
int ConnectOne(const addrinfo* a, absl::Duration timeout, std::string* error) {
  const int fd =
      socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
  if (fd < 0) {
    *error = std::strerror(errno);
    return -1;
  }
  if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      *error = std::strerror(errno);
      close(fd);
      return -1;
    }
    pollfd p = {.fd = fd, .events = POLLOUT, .revents = 0};
    const int ms = static_cast<int>(
        std::clamp<int64_t>(absl::ToInt64Milliseconds(timeout), 1, 24 * 3600 * 1000));
    int ready;
    do {
      ready = poll(&p, 1, ms);
    } while (ready < 0 && errno == EINTR);
    int so_error = 0;
    socklen_t len = sizeof(so_error);
    if (ready == 0) {
      *error = "connect timed out";
    } else if (ready < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) {
      *error = std::strerror(errno);
    } else if (so_error != 0) {
      *error = std::strerror(so_error);
    }
    if (ready <= 0 || so_error != 0) {
      close(fd);
      return -1;
    }
  }
  SetBlocking(fd);
  return fd;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const TlsContext>> TlsContext::Create(const TlsIdentity& identity,
                                                                     bool server) {
  IgnoreSigpipeOnce();
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new failed: " + OpenSslErrors());
  std::shared_ptr<const TlsContext> out(new TlsContext(ctx, server));
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  // AES-128-GCM first: the fastest suite with AES-NI, and what both sides offer.
  SSL_CTX_set_ciphersuites(ctx,
                           "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                           "TLS_CHACHA20_POLY1305_SHA256");
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  // Self-signed node certificates have no chain to verify: accept at this step, and let the
  // caller check the certificate itself once the handshake is done.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
  // Fewer, larger reads from the socket.
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_default_read_buffer_len(ctx, 256 << 10);

  BIO* cert_bio =
      BIO_new_mem_buf(identity.cert_pem.data(), static_cast<int>(identity.cert_pem.size()));
  X509* cert =
      cert_bio == nullptr ? nullptr : PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  BIO_free(cert_bio);
  BIO* key_bio =
      BIO_new_mem_buf(identity.key_pem.data(), static_cast<int>(identity.key_pem.size()));
  EVP_PKEY* key =
      key_bio == nullptr ? nullptr : PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  const bool loaded = cert != nullptr && key != nullptr &&
                      SSL_CTX_use_certificate(ctx, cert) == 1 &&
                      SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!loaded) {
    return absl::InternalError("the node certificate does not load into OpenSSL: " +
                               OpenSslErrors());
  }
  return out;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

absl::StatusOr<std::unique_ptr<TlsStream>> TlsStream::Connect(const std::string& host, int port,
                                                              std::shared_ptr<const TlsContext> tls,
                                                              absl::Duration connect_timeout,
                                                              absl::Duration timeout,
                                                              bool* reached) {
  *reached = false;
  const std::string where = mesh::StrCat(host, ":", port);
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  const int gai = getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  if (gai != 0) {
    return absl::UnavailableError(mesh::StrCat("cannot resolve ", where, ": ", gai_strerror(gai)));
  }
  std::string error = "no address";
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ConnectOne(a, connect_timeout, &error);
  }
  freeaddrinfo(found);
  if (fd < 0) return absl::UnavailableError(mesh::StrCat("cannot connect to ", where, ": ", error));
  *reached = true;
  SetSocketTimeout(fd, timeout);
  SSL* ssl = SSL_new(tls->get());
  if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
    if (ssl != nullptr) SSL_free(ssl);
    close(fd);
    return absl::InternalError("SSL_new failed: " + OpenSslErrors());
  }
  std::unique_ptr<TlsStream> stream(new TlsStream(fd, ssl, std::move(tls)));
  stream->timeout_ = timeout;
  SSL_set_tlsext_host_name(ssl, kNodeTlsServerName);
  ERR_clear_error();
  const int result = SSL_connect(ssl);
  if (result != 1) {
    absl::Status failed = stream->Failure("TLS handshake", result);
    return absl::Status(failed.code(),
                        mesh::StrCat("TLS handshake with ", where, " failed: ", failed.message()));
  }
  return stream;
}

absl::StatusOr<std::unique_ptr<TlsStream>> TlsStream::ForServer(
    int fd, std::shared_ptr<const TlsContext> tls) {
  SetBlocking(fd);
  SSL* ssl = SSL_new(tls->get());
  if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
    if (ssl != nullptr) SSL_free(ssl);
    close(fd);
    return absl::InternalError("SSL_new failed: " + OpenSslErrors());
  }
  // Records leave in batches: OpenSSL writes each 16 KiB TLS record with its own write(2)
  // otherwise, 64 system calls per MiB of blob. WriteAll flushes at its end.
  BIO* buffered = BIO_new(BIO_f_buffer());
  if (buffered != nullptr) {
    BIO_set_write_buffer_size(buffered, 256 << 10);
    BIO* socket_bio = SSL_get_wbio(ssl);
    BIO_up_ref(socket_bio);
    BIO_push(buffered, socket_bio);
    SSL_set0_wbio(ssl, buffered);
  }
  return std::unique_ptr<TlsStream>(new TlsStream(fd, ssl, std::move(tls)));
}

absl::Status TlsStream::Accept(absl::Duration timeout) {
  timeout_ = timeout;
  SetSocketTimeout(fd_, timeout);
  ERR_clear_error();
  const int result = SSL_accept(ssl_);
  return result == 1 ? absl::OkStatus() : Failure("TLS handshake", result);
}

TlsStream::~TlsStream() {
  // No close_notify: the stream's own framing says where the data ended, and a peer that went
  // away would make SSL_shutdown wait for a timeout.
  SSL_free(ssl_);
  close(fd_);
}

std::string TlsStream::PeerCertificatePem() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) return "";
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "";
  std::string pem;
  if (PEM_write_bio_X509(bio, cert) == 1) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    if (size > 0) pem.assign(data, static_cast<size_t>(size));
  }
  BIO_free(bio);
  return pem;
}

void TlsStream::SetTimeout(absl::Duration timeout) {
  if (timeout == timeout_) return;
  timeout_ = timeout;
  SetSocketTimeout(fd_, timeout);
}

absl::Status TlsStream::Failure(std::string_view what, int ssl_result) {
  const int error = SSL_get_error(ssl_, ssl_result);
  const int saved_errno = errno;
  switch (error) {
    case SSL_ERROR_ZERO_RETURN:
      return absl::UnavailableError(mesh::StrCat(what, ": the peer closed the connection"));
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return absl::DeadlineExceededError(
          mesh::StrCat(what, ": no progress in ", absl::FormatDuration(timeout_)));
    case SSL_ERROR_SYSCALL:
      ERR_clear_error();
      if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK) {
        return absl::DeadlineExceededError(
            mesh::StrCat(what, ": no progress in ", absl::FormatDuration(timeout_)));
      }
      return absl::UnavailableError(mesh::StrCat(
          what, ": ",
          saved_errno == 0 ? "the peer closed the connection" : std::strerror(saved_errno)));
    default:
      return absl::UnavailableError(mesh::StrCat(what, ": ", OpenSslErrors()));
  }
}

absl::Status TlsStream::ReadFull(char* data, size_t size) {
  while (size > 0) {
    size_t n = 0;
    ERR_clear_error();
    errno = 0;
    const int result = SSL_read_ex(ssl_, data, size, &n);
    if (result != 1) return Failure("reading", result);
    data += n;
    size -= n;
  }
  return absl::OkStatus();
}

absl::Status TlsStream::WriteAll(std::string_view data, bool flush) {
  while (!data.empty()) {
    size_t n = 0;
    ERR_clear_error();
    errno = 0;
    const int result = SSL_write_ex(ssl_, data.data(), data.size(), &n);
    if (result != 1) return Failure("writing", result);
    data.remove_prefix(n);
  }
  if (flush && BIO_flush(SSL_get_wbio(ssl_)) != 1) {
    return absl::UnavailableError(mesh::StrCat("writing: ", OpenSslErrors()));
  }
  return absl::OkStatus();
}

void TlsStream::Abort() { shutdown(fd_, SHUT_RDWR); }

}  // namespace mesh::net::internal
