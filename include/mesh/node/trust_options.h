// TrustOptions: the node's market economics and trust policy — the credits every submitter
// starts with and regains, the network fee, the default price limit, how far replicate(k) may
// grow, the adaptive verification thresholds and the reputation model. Part of NodeConfig
// ([trust] in meshd.toml). Plain value type.
#pragma once

#include <cstdint>

#include "mesh/ledger/ledger.h"
#include "mesh/ledger/reputation.h"
#include "mesh/verify/verification_policy.h"

namespace mesh::node {

struct TrustOptions {
  // Every submitter starts with `cap` credits and regains credits_per_hour up to it (mana): a
  // fresh node can use the market at once, and nobody can spend without limit.
  ledger::RegenPolicy regen{.credits_per_hour = 100'000, .cap = 1'000'000, .start_full = true};
  int64_t network_fee_bps = 100;  // 1% of each payment, on top, to "fees"
  int64_t network_fee_flat = 0;
  // The price per replica escrowed (and announced as the limit) for jobs that name no max_price.
  int64_t default_max_price = 10'000;
  // A fee per job sent to the market, priced by the submitter's own reputation
  // (ledger::SubmitFee: base x (1.5 - score)); 0 = none. Not refunded.
  int64_t submit_fee = 0;
  int max_replicas = 9;  // replicate(k) adds replicas up to this when no majority forms
  verify::AdaptivePolicy adaptive;
  ledger::ReputationOptions reputation;
};

}  // namespace mesh::node
