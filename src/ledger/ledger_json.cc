#include "mesh/ledger/ledger_json.h"

#include "absl/time/time.h"
#include "mesh/common/hex.h"
#include "mesh/common/strings.h"

namespace mesh::ledger {
namespace {

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

std::string Signed(int64_t amount) {
  return amount > 0 ? mesh::StrCat("+", amount) : mesh::StrCat(amount);
}

}  // namespace

nlohmann::json ToJson(const Entry& e) {
  nlohmann::json postings = nlohmann::json::array();
  for (const Posting& p : e.postings) {
    postings.push_back({{"account", p.account}, {"amount", p.amount}});
  }
  nlohmann::json j = {{"seq", e.seq},
                      {"time", Rfc3339(e.time)},
                      {"time_us", absl::ToUnixMicros(e.time)},
                      {"kind", std::string(EntryKindName(e.kind))},
                      {"postings", std::move(postings)},
                      {"prev_hash", e.prev_hash},
                      {"hash", HashOf(e)},
                      {"signer", e.signer},
                      {"signature", HexEncode(e.signature)}};
  if (!e.job_id.empty()) j["job"] = e.job_id;
  if (!e.key.empty()) j["key"] = e.key;
  if (!e.memo.empty()) j["memo"] = e.memo;
  return j;
}

nlohmann::json ToJson(const Balance& b) {
  return {{"did", b.did}, {"available", b.available}, {"held", b.held}};
}

nlohmann::json ToJson(const EscrowInfo& x) {
  return {{"job", x.job_id},           {"submitter", x.submitter}, {"escrowed", x.escrowed},
          {"remaining", x.remaining},  {"open", x.open},           {"opened_seq", x.opened_seq},
          {"closed_seq", x.closed_seq}};
}

nlohmann::json ToJson(const VerifyReport& r) {
  nlohmann::json j = {{"ok", r.ok},
                      {"entries", r.entries},
                      {"owner", r.owner},
                      {"head", r.head_hash},
                      {"minted", r.minted}};
  if (!r.ok) {
    j["first_bad_seq"] = r.first_bad_seq;
    j["problem"] = r.problem;
  }
  return j;
}

nlohmann::json ToJson(const Reputation& r) {
  nlohmann::json j = {
      {"did", r.did},           {"score", r.score},         {"evidence", r.evidence},
      {"new", r.is_new()},      {"successes", r.successes}, {"failures", r.failures},
      {"timeouts", r.timeouts}, {"outvoted", r.outvoted}};
  if (r.updated != absl::InfinitePast()) j["updated"] = Rfc3339(r.updated);
  return j;
}

std::string FormatEntry(const Entry& e) {
  std::string out = mesh::StrCat("#", e.seq, " ", Rfc3339(e.time), " ", EntryKindName(e.kind));
  if (!e.job_id.empty()) out += mesh::StrCat(" job=", e.job_id);
  for (size_t i = 0; i < e.postings.size(); ++i) {
    out +=
        mesh::StrCat(i == 0 ? " " : ", ", e.postings[i].account, " ", Signed(e.postings[i].amount));
  }
  if (e.postings.empty()) out += " (closed, nothing left)";
  if (!e.memo.empty()) out += mesh::StrCat(" — ", e.memo);
  return out;
}

std::string FormatBalance(const Balance& b) {
  return mesh::StrCat(b.did, ": ", b.available, " available, ", b.held, " held");
}

std::string FormatVerifyReport(const VerifyReport& r) {
  if (r.ok) {
    return mesh::StrCat("ledger OK: ", r.entries, " entries, head ",
                        r.head_hash.empty() ? "(empty)" : r.head_hash, ", ", r.minted,
                        " credits minted, owner ", r.owner.empty() ? "(none)" : r.owner);
  }
  return r.first_bad_seq > 0
             ? mesh::StrCat("ledger CORRUPT at entry ", r.first_bad_seq, ": ", r.problem)
             : mesh::StrCat("ledger CORRUPT: ", r.problem);
}

}  // namespace mesh::ledger
