#include "mesh/node/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "mesh/common/hex.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/node/node_config.h"

namespace mesh::node {

absl::StatusOr<InitResult> InitDataDir(const DataDir& dir, Rng& rng) {
  std::error_code ec;
  const bool created = std::filesystem::create_directories(dir.root, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        mesh::StrCat("cannot create data dir ", dir.root.string(), ": ", ec.message()));
  }
  if (created) ::chmod(dir.root.c_str(), 0700);  // never change a directory the user gave us
  InitResult result;
  if (!std::filesystem::exists(dir.key_path())) {
    MESH_RETURN_IF_ERROR(crypto::KeyPair::Generate().Save(dir.key_path()));
    result.created_key = true;
  }
  if (!std::filesystem::exists(dir.token_path())) {
    std::string raw;
    for (int i = 0; i < 4; ++i) {
      const uint64_t v = rng.Next64();
      raw.append(reinterpret_cast<const char*>(&v), sizeof(v));
    }
    MESH_RETURN_IF_ERROR(WriteFileAtomically(dir.token_path(), HexEncode(raw) + "\n", 0600,
                                             /*overwrite=*/false));
    result.created_token = true;
  }
  if (!std::filesystem::exists(dir.config_path())) {
    MESH_RETURN_IF_ERROR(
        WriteFileAtomically(dir.config_path(), DefaultConfigToml(), 0600, /*overwrite=*/false));
    result.created_config = true;
  }
  return result;
}

absl::StatusOr<std::string> ReadApiToken(const DataDir& dir) {
  struct stat st;
  if (::stat(dir.token_path().c_str(), &st) != 0) {
    return absl::NotFoundError(mesh::StrCat("no API token at ", dir.token_path().string(),
                                            "; run `mesh init` to create one"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(mesh::StrCat(
        "API token ", dir.token_path().string(),
        " is readable by other users; fix with: chmod 600 ", dir.token_path().string()));
  }
  MESH_ASSIGN_OR_RETURN(std::string token, ReadFileToString(dir.token_path(), 4096));
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  if (token.size() < 32) {
    return absl::FailedPreconditionError(
        mesh::StrCat("API token ", dir.token_path().string(),
                     " is shorter than 32 characters; delete it and "
                     "run `mesh init` again"));
  }
  return token;
}

absl::StatusOr<ScopedFd> LockDataDir(const DataDir& dir) {
  MESH_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(dir.lock_path(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    std::string url = ReadFileToString(dir.url_path(), 4096).value_or("an unknown address");
    while (!url.empty() && url.back() == '\n') url.pop_back();
    return absl::FailedPreconditionError(
        mesh::StrCat("another meshd already runs on data dir ", dir.root.string(), " (at ", url,
                     "); stop it first or pass another --data-dir"));
  }
  return fd;
}

}  // namespace mesh::node
