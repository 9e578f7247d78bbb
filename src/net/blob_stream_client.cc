#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/base/internal/endian.h"
#include "blob_stream.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "peer_verifier.h"

namespace mesh::net::internal {
namespace {

// Kept connections: at most this many per peer and in all; one unused this long is closed
// rather than reused (the server closes idle ones after its idle_timeout, 60 s by default).
constexpr size_t kKeptPerPeer = 4;
constexpr size_t kKeptInAll = 64;
constexpr absl::Duration kKeepFor = absl::Seconds(30);
// A blob port that does not answer is given up on quickly: the gRPC port still works.
constexpr absl::Duration kConnectTimeout = absl::Seconds(2);
constexpr absl::Duration kHandshakeTimeout = absl::Seconds(10);

// What one request's reply did: how many bytes reached the sink, and how it ended.
struct Outcome {
  absl::Status status;
  uint64_t delivered = 0;
  bool reusable = false;  // the reply was read to its end: the connection can serve another
};

Outcome ReadReply(TlsStream& stream, absl::Time deadline, const ChunkSink& sink,
                  const std::string& where) {
  Outcome out;
  std::string chunk;
  for (;;) {
    if (absl::Now() > deadline) {
      out.status = absl::DeadlineExceededError(
          mesh::StrCat("fetching a blob from ", where, " took past its deadline"));
      return out;
    }
    char length_bytes[4];
    if (absl::Status s = stream.ReadFull(length_bytes, 4); !s.ok()) {
      out.status = s;
      return out;
    }
    const uint32_t length = absl::big_endian::Load32(length_bytes);
    if (length == kBlobStreamEnd) {
      out.reusable = true;
      return out;
    }
    if (length == kBlobStreamError) {
      char head[8];
      if (absl::Status s = stream.ReadFull(head, 8); !s.ok()) {
        out.status = s;
        return out;
      }
      const uint32_t code = absl::big_endian::Load32(head);
      const uint32_t size = absl::big_endian::Load32(head + 4);
      if (size > kMaxErrorBytes || code == 0 || code > 16) {
        out.status = absl::DataLossError(
            mesh::StrCat("peer ", where, " sent a malformed blob stream error"));
        return out;
      }
      std::string message(size, '\0');
      if (absl::Status s = stream.ReadFull(message.data(), size); !s.ok()) {
        out.status = s;
        return out;
      }
      out.status = absl::Status(static_cast<absl::StatusCode>(code),
                                mesh::StrCat("peer ", where, ": ", message));
      out.reusable = true;
      return out;
    }
    if (length > kBlobChunkBytes) {
      out.status =
          absl::DataLossError(mesh::StrCat("peer ", where, " sent a blob chunk of ", length,
                                           " bytes, over the limit of ", kBlobChunkBytes));
      return out;
    }
    chunk.resize(length);
    if (absl::Status s = stream.ReadFull(chunk.data(), length); !s.ok()) {
      out.status = s;
      return out;
    }
    out.delivered += length;
    if (absl::Status s = sink(chunk); !s.ok()) {
      out.status = s;  // the rest of the reply is not read: the connection is not reused
      return out;
    }
  }
}

}  // namespace

BlobStreamClient::BlobStreamClient(std::shared_ptr<const TlsContext> tls,
                                   std::function<bool(const crypto::DidKey&)> admit,
                                   RefusalCounters counters)
    : tls_(std::move(tls)), admit_(std::move(admit)), counters_(counters) {}

BlobStreamClient::~BlobStreamClient() { Shutdown(); }

absl::StatusOr<std::unique_ptr<TlsStream>> BlobStreamClient::Take(
    const std::string& key, const std::string& host, int port,
    const std::optional<crypto::DidKey>& did, absl::Duration timeout, bool* reused, bool* reached) {
  *reached = true;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return absl::CancelledError("the transport is shut down");
    auto it = kept_.find(key);
    const absl::Time now = absl::Now();
    while (it != kept_.end() && !it->second.empty()) {
      Kept kept = std::move(it->second.back());
      it->second.pop_back();
      --kept_count_;
      if (it->second.empty()) kept_.erase(it);  // no empty entries for peers long gone
      if (now - kept.since < kKeepFor) {
        *reused = true;
        return std::move(kept.stream);
      }
      it = kept_.find(key);
    }
  }
  *reused = false;
  MESH_ASSIGN_OR_RETURN(std::unique_ptr<TlsStream> stream,
                        TlsStream::Connect(host, port, tls_, std::min(timeout, kConnectTimeout),
                                           std::min(timeout, kHandshakeTimeout), reached));
  PeerVerifier verifier(PeerVerifierOptions{.who = mesh::StrCat("peer at ", host, ":", port),
                                            .expected = did,
                                            .admit = admit_,
                                            .counters = counters_});
  const std::string pem = stream->PeerCertificatePem();
  const std::string refusal =
      pem.empty() ? mesh::StrCat("peer at ", host, ":", port, " presented no certificate")
                  : verifier.Check(pem);
  if (!refusal.empty()) return absl::PermissionDeniedError(refusal);
  return stream;
}

void BlobStreamClient::Keep(const std::string& key, std::unique_ptr<TlsStream> stream) {
  absl::MutexLock lock(&mu_);
  if (shutdown_ || kept_count_ >= kKeptInAll) return;
  std::vector<Kept>& kept = kept_[key];
  if (kept.size() >= kKeptPerPeer) return;  // (not empty: no empty entry is left)
  kept.push_back({std::move(stream), absl::Now()});
  ++kept_count_;
}

absl::Status BlobStreamClient::Fetch(const std::string& host, int port,
                                     const std::optional<crypto::DidKey>& did,
                                     std::string_view request, absl::Duration timeout,
                                     const ChunkSink& sink, Path* path) {
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) {
      *path = Path::kAnswered;
      return absl::CancelledError("the transport is shut down");
    }
    ++active_;
  }
  absl::Status status = FetchCounted(host, port, did, request, timeout, sink, path);
  absl::MutexLock lock(&mu_);
  --active_;
  return status;
}

absl::Status BlobStreamClient::FetchCounted(const std::string& host, int port,
                                            const std::optional<crypto::DidKey>& did,
                                            std::string_view request, absl::Duration timeout,
                                            const ChunkSink& sink, Path* path) {
  *path = Path::kAnswered;
  if (request.size() > kMaxMessageBytes) {
    return absl::ResourceExhaustedError(mesh::StrCat("blob request of ", request.size(),
                                                     " bytes exceeds the message limit of ",
                                                     kMaxMessageBytes, " bytes"));
  }
  const std::string where = mesh::StrCat(host, ":", port);
  const std::string key = did.has_value() ? mesh::StrCat(where, " ", did->ToString()) : where;
  const absl::Time deadline = absl::Now() + timeout;
  std::string frame(8, '\0');
  std::memcpy(frame.data(), kBlobStreamMagic, 4);
  absl::big_endian::Store32(frame.data() + 4, static_cast<uint32_t>(request.size()));
  frame.append(request);
  for (int attempt = 0;; ++attempt) {
    bool reused = false;
    bool reached = false;
    absl::StatusOr<std::unique_ptr<TlsStream>> taken =
        Take(key, host, port, did, timeout, &reused, &reached);
    if (!taken.ok()) {
      if (!reached) {
        *path = Path::kNoListener;
      } else if (!absl::IsPermissionDenied(taken.status()) && !absl::IsCancelled(taken.status())) {
        *path = Path::kBusy;
      }
      return taken.status();
    }
    std::unique_ptr<TlsStream> stream = *std::move(taken);
    stream->SetTimeout(timeout);
    {
      absl::MutexLock lock(&mu_);
      if (shutdown_) return absl::CancelledError("the transport is shut down");
      in_use_.push_back(stream.get());
    }
    Outcome outcome;
    if (absl::Status sent = stream->WriteAll(frame); !sent.ok()) {
      outcome.status = sent;
    } else {
      outcome = ReadReply(*stream, deadline, sink, where);
    }
    bool cut = false;
    {
      absl::MutexLock lock(&mu_);
      in_use_.erase(std::find(in_use_.begin(), in_use_.end(), stream.get()));
      cut = shutdown_;
    }
    if (cut && !outcome.reusable) return absl::CancelledError("the transport is shut down");
    if (outcome.reusable) {
      Keep(key, std::move(stream));
      return outcome.status;
    }
    // A kept connection the server closed while it sat unused fails before any reply byte:
    // try once more on a fresh one.
    if (reused && attempt == 0 && outcome.delivered == 0 && absl::IsUnavailable(outcome.status)) {
      continue;
    }
    return outcome.status;
  }
}

void BlobStreamClient::Shutdown() {
  std::map<std::string, std::vector<Kept>> kept;
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    for (TlsStream* s : in_use_) s->Abort();
    kept.swap(kept_);
    kept_count_ = 0;
    // Every fetch ends: those on a stream were cut just now, and one still connecting gives up
    // within its connect and handshake timeouts (2 s and 10 s at most).
    mu_.Await(absl::Condition(
        +[](int* active) { return *active == 0; }, &active_));
  }
}

}  // namespace mesh::net::internal
