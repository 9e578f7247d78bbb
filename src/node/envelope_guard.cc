#include "mesh/node/envelope_guard.h"

#include "mesh/common/hex.h"
#include "mesh/common/strings.h"
#include "mesh/net/transport.h"

namespace mesh::node {

EnvelopeGuard::EnvelopeGuard(const crypto::KeyPair& key, const Clock& clock, Rng& rng,
                             MetricsRegistry& metrics, absl::Duration max_age)
    : key_(key),
      clock_(clock),
      rng_(rng),
      replay_(max_age),
      messages_(metrics.AddCounter("mesh_net_messages_total", "Peer messages received, by type",
                                   {"type"})),
      refused_(metrics.AddCounter("mesh_net_messages_refused_total",
                                  "Peer messages refused: bad signature, wrong signer, stale, "
                                  "replayed, malformed or too large",
                                  {"reason"})) {}

std::string EnvelopeGuard::Seal(job::Message message) const {
  const uint64_t a = rng_.Next64(), b = rng_.Next64();
  const std::string nonce = HexEncode(std::string_view(reinterpret_cast<const char*>(&a), 8)) +
                            HexEncode(std::string_view(reinterpret_cast<const char*>(&b), 8));
  const int64_t now_ms = absl::ToUnixMillis(clock_.Now());
  return job::SealMessage(key_, std::move(message), now_ms, nonce).Serialize();
}

void EnvelopeGuard::Refused(std::string_view reason) { refused_->WithLabels({reason})->Inc(); }

absl::StatusOr<job::OpenedMessage> EnvelopeGuard::Open(std::string_view bytes,
                                                       const std::optional<crypto::DidKey>& from) {
  if (bytes.size() > net::kMaxMessageBytes) {
    Refused("too_large");
    return absl::ResourceExhaustedError(mesh::StrCat(
        "message of ", bytes.size(), " bytes is over the limit of ", net::kMaxMessageBytes));
  }
  absl::StatusOr<job::OpenedMessage> opened = job::OpenMessage(bytes, net::kMaxMessageBytes);
  if (!opened.ok()) {
    Refused(absl::IsUnauthenticated(opened.status())    ? "signature"
            : absl::IsPermissionDenied(opened.status()) ? "wrong_signer"
                                                        : "malformed");
    return opened.status();
  }
  const bool relayed = std::holds_alternative<job::Announce>(opened->message);
  if (from.has_value() && !relayed && !(opened->envelope.signer() == *from)) {
    // The TLS connection authenticated one node and the message is signed by another.
    Refused("wrong_signer");
    return absl::PermissionDeniedError(mesh::StrCat(
        job::MessageName(opened->message), " signed by ", opened->envelope.signer().ToString(),
        " arrived from peer ", from->ToString()));
  }
  const job::MessageHeader& header = std::visit(
      [](const auto& m) -> const job::MessageHeader& { return m.header; }, opened->message);
  if (!relayed) {
    if (absl::Status s = replay_.Check(header, clock_.Now()); !s.ok()) {
      Refused(absl::IsAlreadyExists(s) ? "replayed" : "stale");
      return s;
    }
  }
  messages_->WithLabels({job::MessageName(opened->message)})->Inc();
  return opened;
}

absl::Status EnvelopeGuard::CheckAnnounce(const job::Announce& announce) {
  absl::Status s = replay_.Check(announce.header, clock_.Now());
  if (s.ok() || absl::IsAlreadyExists(s)) return absl::OkStatus();
  Refused("stale");
  return s;
}

}  // namespace mesh::node
