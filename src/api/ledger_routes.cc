// ApiService's trust routes: GET /v1/ledger/balance[/{did}], /v1/ledger/history,
// /v1/ledger/verify and /v1/reputation — the node's credit ledger and its executors' reputation,
// read-only. Amounts are JSON integers (credits); entries are ledger::ToJson's.
//
// No read writes an entry for a DID the ledger has never seen: the ledger applies regenerating
// credits when a balance is read, and an open GET must not let anyone add entries (or mint
// credits) for made-up DIDs. Verification runs on its own read-only connection, so walking a
// long chain does not hold up the market's payments.
#include "absl/strings/numbers.h"
#include "api_json.h"
#include "mesh/api/api_service.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/did_key.h"
#include "mesh/ledger/ledger.h"
#include "mesh/ledger/ledger_json.h"

namespace mesh::api {
namespace {

using json = nlohmann::json;

constexpr size_t kDefaultHistoryLimit = 100;
constexpr size_t kMaxHistoryLimit = 1000;

// `what` names the DID's place in the request: "query parameter did=x" or "\"x\"".
absl::Status CheckDid(std::string_view what, const std::string& did) {
  if (absl::StatusOr<crypto::DidKey> parsed = crypto::DidKey::Parse(did); !parsed.ok()) {
    return absl::InvalidArgumentError(mesh::StrCat(
        what, " is not a DID (", parsed.status().message(), "); expected did:key:z6Mk..."));
  }
  return absl::OkStatus();
}

}  // namespace

HttpResponse ApiService::LedgerBalance(const std::string& did) {
  const std::string self = node_->key().did().ToString();
  const std::string who = did.empty() ? self : did;
  if (absl::Status s = CheckDid(mesh::StrCat("\"", who, "\""), who); !s.ok()) {
    return StatusResponse(s);
  }
  ledger::Ledger& book = node_->settlement().ledger();
  if (who != self) {
    // A DID this ledger never posted to has nothing in it; reading it writes nothing.
    absl::StatusOr<std::vector<ledger::Entry>> seen = book.History(who, 1);
    if (!seen.ok()) return StatusResponse(seen.status());
    if (seen->empty()) return JsonResponse(200, ledger::ToJson(ledger::Balance{who, 0, 0}));
  }
  absl::StatusOr<ledger::Balance> balance = book.BalanceOf(who);
  if (!balance.ok()) return StatusResponse(balance.status());
  return JsonResponse(200, ledger::ToJson(*balance));
}

HttpResponse ApiService::LedgerHistory(const HttpRequest& request) {
  const std::string did = request.Query("did");
  if (!did.empty()) {
    absl::Status s = CheckDid(mesh::StrCat("query parameter did=", did), did);
    if (!s.ok()) return StatusResponse(s);
  }
  size_t limit = kDefaultHistoryLimit;
  if (const std::string v = request.Query("limit"); !v.empty()) {
    if (!absl::SimpleAtoi(ToAbsl(v), &limit) || limit == 0 || limit > kMaxHistoryLimit) {
      return ErrorResponse(
          400, "invalid_argument",
          mesh::StrCat("query parameter limit=", v, ": expected 1 to ", kMaxHistoryLimit));
    }
  }
  int64_t before = 0;
  if (const std::string v = request.Query("before"); !v.empty()) {
    if (!absl::SimpleAtoi(ToAbsl(v), &before) || before <= 0) {
      return ErrorResponse(400, "invalid_argument",
                           mesh::StrCat("query parameter before=", v,
                                        ": expected a positive integer (an entry's seq, e.g. "
                                        "next_before of the previous page)"));
    }
  }
  absl::StatusOr<std::vector<ledger::Entry>> entries =
      node_->settlement().ledger().History(did, limit, before);
  if (!entries.ok()) return StatusResponse(entries.status());
  json list = json::array();
  for (const ledger::Entry& e : *entries) list.push_back(ledger::ToJson(e));
  json body = {{"entries", std::move(list)}};
  if (!did.empty()) body["did"] = did;
  if (entries->size() == limit && entries->back().seq > 1) {
    body["next_before"] = entries->back().seq;
  }
  return JsonResponse(200, body);
}

HttpResponse ApiService::LedgerVerify() {
  absl::StatusOr<std::unique_ptr<ledger::Ledger>> reader = ledger::Ledger::Open(
      node_->data_dir().root / "ledger.db", /*signer=*/nullptr, node_->clock());
  if (!reader.ok()) return StatusResponse(reader.status());
  absl::StatusOr<ledger::VerifyReport> report = (*reader)->Verify();
  if (!report.ok()) return StatusResponse(report.status());
  return JsonResponse(200, ledger::ToJson(*report));
}

HttpResponse ApiService::ReputationList() {
  json executors = json::array();
  for (const ledger::Reputation& r : node_->settlement().reputation().All()) {
    executors.push_back(ledger::ToJson(r));
  }
  return JsonResponse(200, {{"executors", std::move(executors)}});
}

}  // namespace mesh::api
