#include "mesh/accounts/role.h"

namespace mesh::accounts {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kRead:
      return "read";
    case Role::kSubmit:
      return "submit";
    case Role::kAdmin:
      return "admin";
  }
  return "read";
}

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "read") return Role::kRead;
  if (name == "submit") return Role::kSubmit;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

}  // namespace mesh::accounts
