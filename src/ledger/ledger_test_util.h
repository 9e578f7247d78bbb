// Test helpers for the ledger: raw SQL on a ledger file (to tamper with it as an attacker or a
// bad disk would), and DIDs. Test-only; a temporary directory is ScopedTempDir (testing.h).
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>

#include "mesh/common/strings.h"
#include "mesh/common/testing.h"

namespace mesh::ledger::testing {

// Runs `sql` on the file through a connection of its own; fails the test on error.
inline void RawSql(const std::filesystem::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string msg = err != nullptr ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << msg << " in " << sql;
}

inline std::string Did(int n) { return mesh::StrCat("did:test:user", n); }

}  // namespace mesh::ledger::testing
