#include "mesh/ledger/ledger_entry.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "mesh/common/hex.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/did_key.h"
#include "mesh/crypto/sha256.h"
#include "nlohmann/json.hpp"

namespace mesh::ledger {
namespace {

constexpr std::pair<EntryKind, std::string_view> kKindNames[] = {
    {EntryKind::kGrant, "grant"}, {EntryKind::kEscrow, "escrow"},
    {EntryKind::kPay, "pay"},     {EntryKind::kRefund, "refund"},
    {EntryKind::kRegen, "regen"}, {EntryKind::kTransfer, "transfer"},
};

nlohmann::json SigningJson(const Entry& e) {
  nlohmann::json postings = nlohmann::json::array();
  for (const Posting& p : e.postings) {
    postings.push_back({{"account", p.account}, {"amount", p.amount}});
  }
  return {{"seq", e.seq},
          {"time_us", absl::ToUnixMicros(e.time)},
          {"kind", std::string(EntryKindName(e.kind))},
          {"job", e.job_id},
          {"key", e.key},
          {"postings", std::move(postings)},
          {"memo", e.memo},
          {"prev", e.prev_hash},
          {"signer", e.signer}};
}

// Strings that fail UTF-8 are refused by CheckWellFormed before anything is signed; a row
// edited on disk to hold bad bytes must still encode (and then fail its signature), so the
// encoder replaces rather than throws.
std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string_view EntryKindName(EntryKind kind) {
  for (const auto& [k, name] : kKindNames) {
    if (k == kind) return name;
  }
  return "unknown";
}

std::optional<EntryKind> ParseEntryKind(std::string_view name) {
  for (const auto& [k, n] : kKindNames) {
    if (n == name) return k;
  }
  return std::nullopt;
}

std::string EscrowAccount(std::string_view job_id) { return mesh::StrCat(kEscrowPrefix, job_id); }
bool IsEscrowAccount(std::string_view account) {
  return account.size() > kEscrowPrefix.size() &&
         account.substr(0, kEscrowPrefix.size()) == kEscrowPrefix;
}
bool IsDidAccount(std::string_view account) {
  return account.size() > 4 && account.substr(0, 4) == "did:";
}

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= text.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(text[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

absl::Status CheckWellFormed(const Entry& e) {
  for (std::string_view s : {std::string_view(e.job_id), std::string_view(e.key),
                             std::string_view(e.memo), std::string_view(e.signer)}) {
    if (!IsValidUtf8(s)) {
      return absl::InvalidArgumentError(
          mesh::StrCat("ledger entry ", e.seq, " holds a string that is not UTF-8"));
    }
  }
  if (e.postings.empty() && e.kind != EntryKind::kRefund) {
    return absl::InvalidArgumentError(
        mesh::StrCat("ledger entry ", e.seq, " (", EntryKindName(e.kind), ") has no postings"));
  }
  absl::flat_hash_set<std::string> seen;
  int64_t sum = 0;
  for (const Posting& p : e.postings) {
    const std::string_view a = p.account;
    if (!IsValidUtf8(a) ||
        !(a == kMintAccount || a == kFeesAccount || IsEscrowAccount(a) || IsDidAccount(a))) {
      return absl::InvalidArgumentError(mesh::StrCat("ledger entry ", e.seq, " posts to \"", a,
                                                     "\", which is not an account name"));
    }
    if (p.amount == 0) {
      return absl::InvalidArgumentError(
          mesh::StrCat("ledger entry ", e.seq, " has a zero posting to ", a));
    }
    if (!seen.insert(p.account).second) {
      return absl::InvalidArgumentError(
          mesh::StrCat("ledger entry ", e.seq, " posts to ", a, " twice"));
    }
    if (__builtin_add_overflow(sum, p.amount, &sum)) {
      return absl::InvalidArgumentError(
          mesh::StrCat("ledger entry ", e.seq, " overflows 64-bit credits"));
    }
  }
  if (sum != 0) {
    return absl::InvalidArgumentError(mesh::StrCat("ledger entry ", e.seq,
                                                   " does not balance: its postings sum to ", sum,
                                                   ", not 0 (debits must equal credits)"));
  }
  return absl::OkStatus();
}

std::string SigningBytes(const Entry& entry) { return Dump(SigningJson(entry)); }

std::string CanonicalBytes(const Entry& entry) {
  nlohmann::json j = SigningJson(entry);
  j["signature"] = HexEncode(entry.signature);
  return Dump(j);
}

std::string HashOf(const Entry& entry) {
  return HexEncode(crypto::DigestToString(crypto::Sha256Of(CanonicalBytes(entry))));
}

void SignEntry(const crypto::KeyPair& key, Entry& entry) {
  entry.signer = key.did().ToString();
  entry.signature = key.Sign(SigningBytes(entry));
}

absl::Status VerifyEntrySignature(const Entry& entry) {
  absl::StatusOr<crypto::DidKey> did = crypto::DidKey::Parse(entry.signer);
  if (!did.ok()) {
    return absl::InvalidArgumentError(mesh::StrCat("ledger entry ", entry.seq, " signer \"",
                                                   entry.signer, "\": ", did.status().message()));
  }
  return did->Verify(SigningBytes(entry), entry.signature);
}

}  // namespace mesh::ledger
