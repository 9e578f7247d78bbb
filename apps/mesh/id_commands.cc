// `mesh id new|show`: the user's or node's Ed25519 identity.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli_context.h"
#include "mesh/common/hex.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/key_pair.h"

namespace mesh::cli {
namespace {

void PrintIdentity(const CliContext& ctx, const crypto::KeyPair& key,
                   const std::filesystem::path& path) {
  if (ctx.json) {
    const auto& pk = key.did().public_key();
    nlohmann::json j = {
        {"did", key.did().ToString()},
        {"key_file", path.string()},
        {"public_key_hex",
         HexEncode(std::string_view(reinterpret_cast<const char*>(pk.data()), pk.size()))}};
    std::cout << j.dump() << "\n";
  } else {
    std::cout << key.did().ToString() << "\n";
  }
}

}  // namespace

void AddIdCommands(CLI::App& app, CliContext& ctx, absl::Status& result) {
  auto* id = app.add_subcommand("id", "Manage the Ed25519 identity (did:key)");
  id->require_subcommand(1);

  auto key_file = std::make_shared<std::string>();
  auto* create = id->add_subcommand("new", "Create a new identity key and print its DID");
  create->add_option("--key", *key_file, "Key file (default: DATA_DIR/identity.key)");
  create->callback([&ctx, &result, key_file] {
    result = [&]() -> absl::Status {
      std::filesystem::path path =
          key_file->empty() ? ctx.DefaultKeyPath() : std::filesystem::path(*key_file);
      if (key_file->empty()) MESH_RETURN_IF_ERROR(EnsureDataDir(ctx));
      crypto::KeyPair key = crypto::KeyPair::Generate();
      MESH_RETURN_IF_ERROR(key.Save(path));
      PrintIdentity(ctx, key, path);
      return absl::OkStatus();
    }();
  });

  auto* show = id->add_subcommand("show", "Print the DID of an identity key");
  show->add_option("--key", *key_file, "Key file (default: DATA_DIR/identity.key)");
  show->callback([&ctx, &result, key_file] {
    result = [&]() -> absl::Status {
      std::filesystem::path path =
          key_file->empty() ? ctx.DefaultKeyPath() : std::filesystem::path(*key_file);
      auto key = crypto::KeyPair::Load(path);
      if (absl::IsNotFound(key.status())) {
        return absl::NotFoundError(
            mesh::StrCat("no identity key at ", path.string(), "; create one with: mesh id new"));
      }
      MESH_RETURN_IF_ERROR(key.status());
      PrintIdentity(ctx, *key, path);
      return absl::OkStatus();
    }();
  });
}

}  // namespace mesh::cli
