// Header fields of a Beast message as the API's plain types use them: names lower-cased (HTTP
// field names are case-insensitive). Shared by http_server.cc and http_client.cc, the only
// files that include Beast. Pure; thread-safe.
#pragma once

#include <cctype>
#include <map>
#include <string>

namespace mesh::api {

template <class Fields>
std::map<std::string, std::string> LowerCasedFields(const Fields& fields) {
  std::map<std::string, std::string> out;
  for (const auto& f : fields) {
    std::string name(f.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out[std::move(name)] = std::string(f.value());
  }
  return out;
}

}  // namespace mesh::api
