// JSON and one-line text renderings of the ledger's values, for `mesh ledger verify|balance|
// history` and the HTTP API. Amounts stay JSON integers (credits are int64, never floating
// point); times are RFC 3339 and Unix microseconds; signatures are hex. Pure functions.
#pragma once

#include <string>

#include "mesh/ledger/ledger.h"
#include "mesh/ledger/ledger_entry.h"
#include "mesh/ledger/reputation.h"
#include "nlohmann/json.hpp"

namespace mesh::ledger {

nlohmann::json ToJson(const Entry& entry);
nlohmann::json ToJson(const Balance& balance);
nlohmann::json ToJson(const EscrowInfo& escrow);
nlohmann::json ToJson(const VerifyReport& report);
nlohmann::json ToJson(const Reputation& reputation);

// "#42 2024-05-01T10:00:00Z pay job=bafy… escrow:bafy… -105, did:key:z… +100, fees +5"
std::string FormatEntry(const Entry& entry);
// "did:key:z…: 250 available, 300 held"
std::string FormatBalance(const Balance& balance);
// "ledger OK: 1234 entries, head 3f…, 50000 credits minted, owner did:key:z…" or
// "ledger CORRUPT at entry 17: …"
std::string FormatVerifyReport(const VerifyReport& report);

}  // namespace mesh::ledger
