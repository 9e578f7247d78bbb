// EnvelopeGuard: how this node seals its messages to peers and opens theirs. Open() checks, in
// order, the size, the signature, that the signer is the TLS-authenticated peer (a relayed
// Announce keeps its origin's signature), staleness and replay (ReplayGuard); each refusal is
// counted in mesh_net_messages_refused_total by reason, each accepted message in
// mesh_net_messages_total by type. Thread-safe; the injected objects must outlive it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "mesh/common/clock.h"
#include "mesh/common/metrics.h"
#include "mesh/common/rng.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/job/market.h"
#include "mesh/node/replay_guard.h"

namespace mesh::node {

class EnvelopeGuard {
 public:
  EnvelopeGuard(const crypto::KeyPair& key, const Clock& clock, Rng& rng, MetricsRegistry& metrics,
                absl::Duration max_age);

  // Signed by this node, now, with a fresh nonce.
  std::string Seal(job::Message message) const;
  // `from`: the peer the connection authenticated (nullopt: any signer).
  absl::StatusOr<job::OpenedMessage> Open(std::string_view bytes,
                                          const std::optional<crypto::DidKey>& from);
  // An Announce is replay-checked here rather than in Open: a relayed copy is not a replay,
  // but a stale one is refused.
  absl::Status CheckAnnounce(const job::Announce& announce);
  void Refused(std::string_view reason);

 private:
  const crypto::KeyPair& key_;
  const Clock& clock_;
  Rng& rng_;
  ReplayGuard replay_;
  Counter* const messages_;
  Counter* const refused_;
};

}  // namespace mesh::node
