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
#include "blob_stream.h"
#include "grpc_util.h"
#include "mesh/common/strings.h"
#include "mesh/net/tls_identity.h"

namespace mesh::net::internal {
namespace {

constexpr size_t kMaxCachedCertificates = 4096;
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
  if (const int port = blob_port_.load(); port > 0) {
    context->AddInitialMetadata(kBlobPortMetadata, std::to_string(port));
  }
  RefusalCounters::Count(refused_.blobs_over_grpc);
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
