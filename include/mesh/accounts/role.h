// The roles of the API's users, each including the one below it: `read` sees jobs, events,
// metrics, peers and the ledger, and the inputs and outputs of its own jobs; `submit` adds
// uploading, submitting and cancelling its own jobs; `admin` adds everything else (every job's
// data, other users). Pure; thread-safe.
#pragma once

#include <optional>
#include <string_view>

namespace mesh::accounts {

enum class Role { kRead = 1, kSubmit = 2, kAdmin = 3 };

std::string_view RoleName(Role role);
// "read", "submit" or "admin"; nullopt for anything else.
std::optional<Role> ParseRole(std::string_view name);
// True when a user with role `have` may do what needs `need`.
inline bool Allows(Role have, Role need) {
  return static_cast<int>(have) >= static_cast<int>(need);
}

}  // namespace mesh::accounts
