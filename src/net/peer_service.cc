#include "peer_service.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <deque>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "blob_chunks.h"
#include "grpc_util.h"
#include "mesh/common/strings.h"
#include "mesh/net/tls_identity.h"

namespace mesh::net::internal {
namespace {

constexpr size_t kMaxCachedCertificates = 4096;
// Chunks read ahead of the one gRPC is sending.
constexpr size_t kChunksAhead = 2;

// Reads (and, for a stored blob, hashes: BlobReader checks the CID as it goes) the next chunks
// on a thread of its own while the call's thread has gRPC encrypt and send the current one, so
// one transfer's two halves run on two cores. The destructor stops the thread and joins it.
class ChunkPrefetcher {
 public:
  explicit ChunkPrefetcher(cas::ByteSource& source) : source_(source), thread_([this] { Run(); }) {}
  ~ChunkPrefetcher() {
    {
      absl::MutexLock lock(&mu_);
      stopped_ = true;
    }
    thread_.join();
  }
  ChunkPrefetcher(const ChunkPrefetcher&) = delete;
  ChunkPrefetcher& operator=(const ChunkPrefetcher&) = delete;

  // The next chunk, swapped into `*chunk` (whose old buffer is read into again: no allocation
  // per chunk); an empty chunk = the end of the blob. An exception the source threw is rethrown
  // here, on the call's thread, for the call's edge to catch.
  absl::Status Next(std::string* chunk) {
    Read next;
    {
      absl::MutexLock lock(&mu_);
      if (chunk->capacity() >= kBlobChunkBytes) spare_.push_back(std::move(*chunk));
      mu_.Await(absl::Condition(
          +[](std::deque<Read>* q) { return !q->empty(); }, &ready_));
      next = std::move(ready_.front());
      ready_.pop_front();
    }
    if (next.thrown != nullptr) std::rethrow_exception(next.thrown);
    if (!next.chunk.ok()) return next.chunk.status();
    chunk->swap(*next.chunk);
    return absl::OkStatus();
  }

 private:
  void Run() {
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &ChunkPrefetcher::HasRoom));
        if (stopped_) return;
      }
      Read read;
      std::string buffer;
      {
        absl::MutexLock lock(&mu_);
        if (!spare_.empty()) {
          buffer = std::move(spare_.back());
          spare_.pop_back();
        }
      }
      try {
        read.chunk = std::move(buffer);
        absl::StatusOr<size_t> n = ReadChunk(source_, &*read.chunk);
        if (!n.ok()) read.chunk = n.status();
      } catch (...) {  // Must not end the process from this thread.
        read.thrown = std::current_exception();
      }
      const bool last = read.thrown != nullptr || !read.chunk.ok() || read.chunk->empty();
      absl::MutexLock lock(&mu_);
      ready_.push_back(std::move(read));
      if (last) return;
    }
  }
  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopped_ || ready_.size() < kChunksAhead;
  }

  struct Read {
    absl::StatusOr<std::string> chunk;
    std::exception_ptr thrown;
  };

  cas::ByteSource& source_;
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Read> ready_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> spare_ ABSL_GUARDED_BY(mu_);  // Buffers sent, to read into again.
  std::thread thread_;                                   // Last: starts after the members it uses.
};

// gRPC's AuthContext property holding the peer's leaf certificate (TSI_X509_PEM_CERT_PROPERTY).
constexpr char kPemCertProperty[] = "x509_pem_cert";

}  // namespace

PeerService::PeerService(Handler* handler, std::function<bool(const crypto::DidKey&)> admit,
                         RefusalCounters refused)
    : handler_(handler), admit_(std::move(admit)), refused_(refused) {}

absl::StatusOr<crypto::DidKey> PeerService::DidOfCertificate(std::string_view pem) {
  {
    absl::MutexLock lock(&cache_mu_);
    auto it = did_cache_.find(ToAbsl(pem));
    if (it != did_cache_.end()) return it->second;
  }
  absl::StatusOr<crypto::DidKey> did = DidFromCertificate(pem);
  if (did.ok()) {
    absl::MutexLock lock(&cache_mu_);
    if (did_cache_.size() >= kMaxCachedCertificates) did_cache_.clear();
    did_cache_.emplace(std::string(pem), *did);
  }
  return did;
}

absl::StatusOr<crypto::DidKey> PeerService::Admit(const grpc::ServerContext& context,
                                                  const pb::Frame& request) {
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  const std::vector<grpc::string_ref> certs = auth == nullptr
                                                  ? std::vector<grpc::string_ref>{}
                                                  : auth->FindPropertyValues(kPemCertProperty);
  if (certs.size() != 1) {
    RefusalCounters::Count(refused_.no_client_cert);
    return absl::UnauthenticatedError(
        "the connection carries no client certificate; Mesh peers authenticate with their node "
        "certificate (mutual TLS)");
  }
  absl::StatusOr<crypto::DidKey> did =
      DidOfCertificate(std::string_view(certs[0].data(), certs[0].size()));
  if (!did.ok()) {
    RefusalCounters::Count(refused_.not_node_cert);
    return absl::UnauthenticatedError(
        mesh::StrCat("client certificate refused: ", did.status().message()));
  }
  if (admit_ && !admit_(*did)) {
    RefusalCounters::Count(refused_.did_not_allowed);
    return absl::PermissionDeniedError(mesh::StrCat(
        "node ", did->ToString(), " is not in this node's allowed_peers; add its DID there"));
  }
  if (request.envelope().size() > kMaxMessageBytes) {
    RefusalCounters::Count(refused_.too_large);
    return absl::ResourceExhaustedError(mesh::StrCat("envelope of ", request.envelope().size(),
                                                     " bytes exceeds the message limit of ",
                                                     kMaxMessageBytes, " bytes"));
  }
  return did;
}

grpc::Status PeerService::HandlerThrew(std::string_view rpc, std::string_view what) {
  RefusalCounters::Count(refused_.handler_errors);
  return grpc::Status(grpc::StatusCode::INTERNAL,
                      mesh::StrCat(rpc, " failed inside the receiving node: ", what));
}

// The edges: gRPC's sync server would let an exception escape into its thread and end the
// process, so each call catches everything here.
grpc::Status PeerService::Deliver(grpc::ServerContext* context, const pb::Frame* request,
                                  pb::Frame* reply) {
  try {
    return DeliverUnguarded(context, *request, reply);
  } catch (const std::exception& e) {
    return HandlerThrew("Deliver", e.what());
  } catch (...) {
    return HandlerThrew("Deliver", "an exception of unknown type");
  }
}

grpc::Status PeerService::FetchBlob(grpc::ServerContext* context, const pb::Frame* request,
                                    grpc::ServerWriter<pb::BlobChunk>* writer) {
  try {
    return FetchBlobUnguarded(context, *request, writer);
  } catch (const std::exception& e) {
    return HandlerThrew("FetchBlob", e.what());
  } catch (...) {
    return HandlerThrew("FetchBlob", "an exception of unknown type");
  }
}

grpc::Status PeerService::DeliverUnguarded(grpc::ServerContext* context, const pb::Frame& request,
                                           pb::Frame* reply) {
  absl::StatusOr<crypto::DidKey> peer = Admit(*context, request);
  if (!peer.ok()) return ToGrpcStatus(peer.status());
  const int ttl = std::clamp(request.ttl(), 0, kMaxTtl);
  absl::StatusOr<std::string> answer = handler_->OnMessage(*peer, request.envelope(), ttl);
  if (!answer.ok()) return ToGrpcStatus(answer.status());
  if (answer->size() > kMaxMessageBytes) {
    return grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        mesh::StrCat("the reply of ", answer->size(), " bytes exceeds the message limit of ",
                     kMaxMessageBytes, " bytes"));
  }
  reply->set_envelope(*std::move(answer));
  return grpc::Status::OK;
}

grpc::Status PeerService::FetchBlobUnguarded(grpc::ServerContext* context, const pb::Frame& request,
                                             grpc::ServerWriter<pb::BlobChunk>* writer) {
  absl::StatusOr<crypto::DidKey> peer = Admit(*context, request);
  if (!peer.ok()) return ToGrpcStatus(peer.status());
  absl::StatusOr<std::unique_ptr<cas::ByteSource>> source =
      handler_->OpenBlob(*peer, request.envelope());
  if (!source.ok()) return ToGrpcStatus(source.status());
  if (*source == nullptr) return grpc::Status(grpc::StatusCode::INTERNAL, "OpenBlob returned null");
  ChunkPrefetcher prefetch(**source);
  pb::BlobChunk chunk;
  for (;;) {
    absl::Status next = prefetch.Next(chunk.mutable_data());
    if (!next.ok()) return ToGrpcStatus(next);
    if (chunk.data().empty()) break;
    if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "fetch cancelled");
    // Blocks under HTTP/2 flow control until the peer has room; false = the peer went away.
    if (!writer->Write(chunk)) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "the fetching peer went away");
    }
  }
  return grpc::Status::OK;
}

}  // namespace mesh::net::internal
