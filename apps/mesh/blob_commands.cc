// `mesh blob put|get|ls|rm` and `mesh cid`: the local content-addressed store.
#include <fcntl.h>
#include <unistd.h>

#include <iostream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli_context.h"
#include "mesh/cas/blob_store.h"
#include "mesh/cas/dir_tree.h"
#include "mesh/common/clock.h"
#include "mesh/common/file_util.h"
#include "mesh/common/status_macros.h"

namespace mesh::cli {
namespace {

absl::StatusOr<std::unique_ptr<cas::BlobStore>> OpenStore(const CliContext& ctx,
                                                          const Clock& clock) {
  MESH_RETURN_IF_ERROR(EnsureDataDir(ctx));
  return cas::BlobStore::Open({.root = ctx.StoreDir()}, clock);
}

absl::StatusOr<ScopedFd> OpenInput(const std::string& name) {
  if (name == "-") return ScopedFd(::dup(STDIN_FILENO));
  return OpenFile(name, O_RDONLY);
}

void PrintCid(const CliContext& ctx, const cas::Cid& cid, std::optional<uint64_t> size) {
  if (ctx.json) {
    nlohmann::json j = {{"cid", cid.ToString()}, {"codec", cas::CodecName(cid.codec())}};
    if (size.has_value()) j["size"] = *size;
    std::cout << j.dump() << "\n";
  } else {
    std::cout << cid.ToString() << "\n";
  }
}

}  // namespace

void AddBlobCommands(CLI::App& app, CliContext& ctx, absl::Status& result) {
  static SystemClock clock;
  auto* blob = app.add_subcommand("blob", "Store and read content-addressed blobs");
  blob->require_subcommand(1);

  auto input = std::make_shared<std::string>();
  auto dir = std::make_shared<bool>(false);
  auto* put = blob->add_subcommand(
      "put", "Store a file (or - for stdin), or with --dir a directory tree, and print its CID");
  put->add_option("FILE", *input, "File to store, or - for stdin")->required();
  put->add_flag("--dir", *dir,
                "FILE is a directory: store its files and a directory manifest naming the tree");
  put->callback([&ctx, &result, input, dir] {
    result = [&]() -> absl::Status {
      MESH_ASSIGN_OR_RETURN(auto store, OpenStore(ctx, clock));
      cas::Cid cid = cas::Cid::Of("");
      if (*dir) {
        MESH_ASSIGN_OR_RETURN(cas::ImportResult tree, cas::ImportDirectory(*store, *input));
        if (ctx.json) {
          std::cout << nlohmann::json{{"cid", tree.manifest_cid.ToString()},
                                      {"codec", "dag-json"},
                                      {"entries", tree.manifest.entries.size()},
                                      {"files", tree.manifest.FileCount()},
                                      {"bytes", tree.manifest.TotalFileBytes()}}
                           .dump()
                    << "\n";
        } else {
          std::cout << tree.manifest_cid.ToString() << "\n";
        }
        return absl::OkStatus();
      }
      if (*input == "-") {
        cas::FdSource source(STDIN_FILENO);
        MESH_ASSIGN_OR_RETURN(cid, store->Put(source));
      } else {
        MESH_ASSIGN_OR_RETURN(cid, store->PutFile(*input));
      }
      MESH_ASSIGN_OR_RETURN(cas::BlobInfo info, store->Stat(cid));
      PrintCid(ctx, cid, info.size);
      return absl::OkStatus();
    }();
  });

  auto cid_text = std::make_shared<std::string>();
  auto out_file = std::make_shared<std::string>();
  auto* get = blob->add_subcommand("get", "Write a blob's bytes to stdout, verified first");
  get->add_option("CID", *cid_text, "CID of the blob")->required();
  get->add_option("-o,--output", *out_file, "Write to this file instead of stdout");
  get->callback([&ctx, &result, cid_text, out_file] {
    result = [&]() -> absl::Status {
      MESH_ASSIGN_OR_RETURN(cas::Cid cid, cas::Cid::Parse(*cid_text));
      MESH_ASSIGN_OR_RETURN(auto store, OpenStore(ctx, clock));
      if (out_file->empty()) return store->CopyTo(cid, STDOUT_FILENO);
      // Write next to the target and rename, so a failed get leaves no partial file.
      const std::string tmp = *out_file + ".partial";
      MESH_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644));
      absl::Status s = store->CopyTo(cid, fd.get());
      if (s.ok() && ::rename(tmp.c_str(), out_file->c_str()) != 0) {
        s = ErrnoToStatus(errno, *out_file);
      }
      if (!s.ok()) ::unlink(tmp.c_str());
      return s;
    }();
  });

  auto* ls = blob->add_subcommand("ls", "List stored blobs");
  ls->callback([&ctx, &result] {
    result = [&]() -> absl::Status {
      MESH_ASSIGN_OR_RETURN(auto store, OpenStore(ctx, clock));
      nlohmann::json rows = nlohmann::json::array();
      std::string after;
      while (true) {
        MESH_ASSIGN_OR_RETURN(auto page, store->List(after, 1000));
        if (page.empty()) break;
        for (const auto& b : page) {
          const std::string when =
              absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", b.stored_at, absl::UTCTimeZone());
          if (ctx.json) {
            rows.push_back({{"cid", b.cid.ToString()}, {"size", b.size}, {"stored_at", when}});
          } else {
            std::cout << b.cid.ToString() << "  " << b.size << "  " << when << "\n";
          }
        }
        after = page.back().cid.ToString();
      }
      if (ctx.json) std::cout << rows.dump() << "\n";
      return absl::OkStatus();
    }();
  });

  auto* rm = blob->add_subcommand("rm", "Delete a blob from the local store");
  rm->add_option("CID", *cid_text, "CID of the blob")->required();
  rm->callback([&ctx, &result, cid_text] {
    result = [&]() -> absl::Status {
      MESH_ASSIGN_OR_RETURN(cas::Cid cid, cas::Cid::Parse(*cid_text));
      MESH_ASSIGN_OR_RETURN(auto store, OpenStore(ctx, clock));
      return store->Delete(cid);
    }();
  });

  auto* cid_cmd =
      app.add_subcommand("cid", "Print the CID of a file (or - for stdin) without storing it");
  cid_cmd->add_option("FILE", *input, "File to hash, or - for stdin")->required();
  cid_cmd->callback([&ctx, &result, input] {
    result = [&]() -> absl::Status {
      MESH_ASSIGN_OR_RETURN(ScopedFd fd, OpenInput(*input));
      MESH_ASSIGN_OR_RETURN(crypto::Digest digest, crypto::Sha256OfFd(fd.get()));
      PrintCid(ctx, cas::Cid::FromDigest(digest), std::nullopt);
      return absl::OkStatus();
    }();
  });
}

}  // namespace mesh::cli
