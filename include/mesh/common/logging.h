// Logging set-up on spdlog. Call InitLogging once from main(); library code then logs with
// spdlog::info/warn/... Messages go to stderr so stdout stays free for command output.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace mesh {

// `level` is one of trace, debug, info, warn, error, off.
absl::Status InitLogging(std::string_view level);

}  // namespace mesh
