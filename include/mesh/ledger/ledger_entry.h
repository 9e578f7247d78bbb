// Entry: one append-only, signed, hash-chained, double-entry record of the credit ledger.
//
// Every movement of credits is an Entry whose postings sum to zero (debits equal credits), so
// credits are never created or destroyed except against the "mint" account, the only account
// allowed to go negative: its balance is minus everything ever granted or regenerated.
// Accounts are plain strings:
//   "did:…"          a DID's available credits
//   "escrow:<job>"   credits held for one job until it is settled or refunded
//   "fees"           the network's fees (submit fees and per-payment network fees)
//   "mint"           the source of granted and regenerated credits
//
// Canonical bytes (what is signed and hashed) are compact JSON with keys in sorted order
// (nlohmann's object is a std::map), integers only — amounts are int64 credits and time is Unix
// microseconds, never floating point — and strings as given (the ledger admits only valid UTF-8).
// Postings keep their order. SigningBytes omits "signature"; HashOf covers the signed bytes plus
// the signature, so the chain also pins every signature. JSON rather than a binary form because
// `mesh ledger history` and auditors can read it with any tool.
//
// Values; pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mesh/crypto/key_pair.h"

namespace mesh::ledger {

inline constexpr std::string_view kMintAccount = "mint";
inline constexpr std::string_view kFeesAccount = "fees";
inline constexpr std::string_view kEscrowPrefix = "escrow:";

enum class EntryKind {
  kGrant,     // mint → DID
  kEscrow,    // submitter → escrow:<job> (+ submit fee → fees)
  kPay,       // escrow:<job> → executor (+ network fee → fees)
  kRefund,    // escrow:<job> → submitter; closes the escrow (may have no postings)
  kRegen,     // mint → DID, regenerating capacity
  kTransfer,  // DID → DID (storage rent: a stored file's owner pays its holders), keyed once
};

std::string_view EntryKindName(EntryKind kind);
std::optional<EntryKind> ParseEntryKind(std::string_view name);

struct Posting {
  std::string account;
  int64_t amount = 0;  // > 0 credits the account (its balance rises), < 0 debits it
  friend bool operator==(const Posting&, const Posting&) = default;
};

struct Entry {
  int64_t seq = 0;  // 1, 2, 3, … with no gaps
  absl::Time time = absl::UnixEpoch();
  EntryKind kind = EntryKind::kGrant;
  std::string job_id;  // empty for grant and regen
  // What makes an operation happen at most once ("escrow:<job>", "pay:<job>|<did>|<assignment>",
  // "refund:<job>"); unique across the ledger when not empty. Signed, so it cannot be edited to
  // let a duplicate through.
  std::string key;
  std::vector<Posting> postings;
  std::string memo;
  std::string prev_hash;  // hex SHA-256 of the previous entry (HashOf); "" for seq 1
  std::string signer;     // DID of the node keeping the ledger
  std::string signature;  // raw 64-byte Ed25519 signature over SigningBytes
};

std::string EscrowAccount(std::string_view job_id);
bool IsEscrowAccount(std::string_view account);
// A DID's available account: any string that starts with "did:".
bool IsDidAccount(std::string_view account);

// Checks names and amounts: valid UTF-8 everywhere, well-formed accounts, no zero posting, no
// account twice, sum zero (with overflow checked), postings present unless kRefund.
// InvalidArgument naming the problem.
absl::Status CheckWellFormed(const Entry& entry);

std::string SigningBytes(const Entry& entry);
std::string CanonicalBytes(const Entry& entry);  // SigningBytes plus the signature (hex)
std::string HashOf(const Entry& entry);          // hex SHA-256 of CanonicalBytes

// Fills signer and signature.
void SignEntry(const crypto::KeyPair& key, Entry& entry);
// Unauthenticated when the signature does not verify against entry.signer; InvalidArgument
// when the signer is not a did:key.
absl::Status VerifyEntrySignature(const Entry& entry);

// True when `text` is valid UTF-8 (the canonical JSON could not otherwise encode it).
bool IsValidUtf8(std::string_view text);

}  // namespace mesh::ledger
