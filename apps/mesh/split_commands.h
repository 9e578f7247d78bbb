// Split jobs and long jobs from the CLI: the split flags of `mesh submit` (--split, --merge,
// --chunk-module), `mesh chunks JOB [--proof INDEX]` and `mesh partials JOB [--cat]`.
#pragma once

#include <functional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "cli_context.h"
#include "nlohmann/json.hpp"

namespace mesh::cli {

struct SplitFlags {
  std::string split;         // bytes:N | lines:N | records:N[:SEP] | wasm:FILE[:N]
  std::string merge;         // concat | wasm:FILE
  std::string chunk_module;  // FILE or CID
};

void AddSplitFlags(CLI::App* submit, SplitFlags& flags);
// Adds "split" to a job request when --split is given (modules uploaded with `upload`);
// InvalidArgument naming the flag for a malformed value.
absl::Status AddSplit(const SplitFlags& flags,
                      const std::function<absl::StatusOr<std::string>(const std::string&)>& upload,
                      nlohmann::json& request);

void AddSplitCommands(CLI::App& app, CliContext& ctx, absl::Status& result);

}  // namespace mesh::cli
