// Replacing a file that is rewritten at every start (a daemon's address, mesh.addr and
// meshd.url): readers must never see half of it, but it need not survive a power loss, so it
// is written like WriteFileAtomically (file_util.h) without the fsync of the file and of its
// directory, which cost milliseconds each on a busy disk. Kept apart from file_util.h so that
// adding it recompiles only its users.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string_view>

#include "absl/status/status.h"

namespace mesh {

// Writes `data` to a temporary file beside `path` and renames it over `path` (readers see the
// old file or the whole new one); no fsync.
absl::Status ReplaceFileAtomically(const std::filesystem::path& path, std::string_view data,
                                   mode_t mode);

}  // namespace mesh
