#include "cli_context.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>

#include "mesh/common/file_util.h"
#include "mesh/common/strings.h"

namespace mesh::cli {

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 0;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 2;
    case absl::StatusCode::kNotFound:
      return 3;
    case absl::StatusCode::kAlreadyExists:
      return 4;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return 5;
    case absl::StatusCode::kDataLoss:
      return 6;
    case absl::StatusCode::kResourceExhausted:
      return 7;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return 8;
    default:
      return 1;
  }
}

std::string DefaultDataDir() {
  if (const char* env = std::getenv("MESH_DATA_DIR"); env != nullptr && *env != '\0') return env;
  const char* home = std::getenv("HOME");
  return mesh::StrCat(home != nullptr ? home : ".", "/.mesh");
}

absl::Status EnsureDataDir(const CliContext& ctx) {
  std::error_code ec;
  if (std::filesystem::is_directory(ctx.DataDir(), ec)) return absl::OkStatus();
  if (!std::filesystem::create_directories(ctx.DataDir(), ec) && ec) {
    return ErrnoToStatus(ec.value(), mesh::StrCat("create data dir ", ctx.data_dir));
  }
  ::chmod(ctx.DataDir().c_str(), 0700);
  return absl::OkStatus();
}

}  // namespace mesh::cli
