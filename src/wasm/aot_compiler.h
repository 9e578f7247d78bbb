// The system C compiler as the aot engine uses it: found on PATH, asked for its version (part
// of the cache key) and run as a subprocess to build one shared object per module. Immutable
// after Find; thread-safe.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mesh::wasm::aot {

class CCompiler {
 public:
  // `command` if non-empty, else $CC, else "cc"; split on spaces (so "ccache gcc" works), with
  // the first word resolved on PATH. FailedPrecondition naming the fix when it is not found.
  static absl::StatusOr<CCompiler> Find(std::string_view command);

  // The flags every module is compiled with. -ffp-contract=off keeps float results identical to
  // the interpreter's (no FMA contraction); -ffast-math is never used for the same reason.
  static const std::vector<std::string>& Flags();

  // The first line of `<compiler> --version`, e.g. "cc (Debian 12.2.0-14) 12.2.0".
  absl::StatusOr<std::string> Version() const;

  // Compiles `sources` into the shared object `output`, with `include_dir` on the include
  // path. The wasm2c runtime's symbols stay undefined: they resolve at dlopen time against the
  // copy linked into the executable. Internal with the tail of the compiler's output on failure.
  absl::Status CompileSharedObject(const std::vector<std::filesystem::path>& sources,
                                   const std::filesystem::path& include_dir,
                                   const std::filesystem::path& output) const;

  // The resolved compiler command, e.g. "/usr/bin/cc".
  std::string command_line() const;

 private:
  explicit CCompiler(std::vector<std::string> argv) : argv_(std::move(argv)) {}
  std::vector<std::string> argv_;
};

// Runs `argv` with stdin from /dev/null and stdout+stderr into `log`; returns the exit status
// (128 + signal number when killed by a signal).
absl::StatusOr<int> RunCommand(const std::vector<std::string>& argv,
                               const std::filesystem::path& log);

}  // namespace mesh::wasm::aot
