#include "aot_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <wabt/config.h>

#include <cerrno>
#include <chrono>
#include <cstdio>

#include "aot_codegen.h"
#include "mesh/common/file_util.h"
#include "mesh/common/hex.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/sha256.h"

namespace mesh::wasm::aot {
namespace {

namespace fs = std::filesystem;

// Work directories older than this were left by a crashed process; no compile takes an hour.
constexpr auto kStaleWorkDirAge = std::chrono::hours(1);

absl::StatusOr<std::string> DigestOfFile(const fs::path& path) {
  MESH_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(path, O_RDONLY | O_CLOEXEC));
  MESH_ASSIGN_OR_RETURN(crypto::Digest digest, crypto::Sha256OfFd(fd.get()));
  return HexEncode(crypto::DigestToString(digest));
}

void RemoveStaleWorkDirs(const fs::path& tmp) {
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (const auto& entry : fs::directory_iterator(tmp, ec)) {
    const auto mtime = entry.last_write_time(ec);
    if (!ec && now - mtime > kStaleWorkDirAge) fs::remove_all(entry.path(), ec);
  }
}

// Holds an exclusive flock(2) on a lock file: excludes other processes, and other threads that
// opened the file separately (flock locks belong to the open file description).
class FileLock {
 public:
  static absl::StatusOr<FileLock> Acquire(const fs::path& path) {
    MESH_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    while (::flock(fd.get(), LOCK_EX) != 0) {
      if (errno != EINTR) return ErrnoToStatus(errno, mesh::StrCat("locking ", path.string()));
    }
    return FileLock(std::move(fd));
  }

 private:
  explicit FileLock(ScopedFd fd) : fd_(std::move(fd)) {}
  ScopedFd fd_;  // closing it releases the lock
};

}  // namespace

absl::StatusOr<std::unique_ptr<AotCache>> AotCache::Open(const fs::path& dir, CCompiler compiler,
                                                         bool allow_compile,
                                                         std::string compiler_version) {
  std::error_code ec;
  fs::create_directories(dir / "tmp", ec);
  if (ec) {
    return absl::FailedPreconditionError(
        mesh::StrCat("cannot create the aot cache directory ", dir.string(), ": ", ec.message(),
                     "; check its permissions or choose another data directory"));
  }
  // Compiled modules are code this process will run: keep the directory private.
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (allow_compile) RemoveStaleWorkDirs(dir / "tmp");
  if (compiler_version.empty()) {
    MESH_ASSIGN_OR_RETURN(compiler_version, compiler.Version());
  } else if (compiler_version.find('\n') != std::string::npos) {
    // One line, as Version() returns: a newline could forge the fields that follow it.
    return absl::InvalidArgumentError("the given C compiler version is not one line");
  }
  const std::string& version = compiler_version;
  std::string prefix = mesh::StrCat("mesh-aot\n", kAotAbiVersion, "\n", WABT_VERSION_STRING, "\n",
                                    compiler.command_line(), "\n", version, "\n");
  for (const std::string& flag : CCompiler::Flags()) prefix += flag + " ";
  prefix +=
      mesh::StrCat("\n", WasmRtHeader(), "\n", WasmRtImplHeader(), "\n", GlueTemplate(), "\n");
  return std::unique_ptr<AotCache>(new AotCache(
      dir, std::move(compiler), std::move(compiler_version), std::move(prefix), allow_compile));
}

std::string AotCache::KeyFor(const InstrumentedModule& module) const {
  crypto::Sha256 sha;
  sha.Update(key_prefix_);
  sha.Update(module.wasm);
  return HexEncode(crypto::DigestToString(sha.Finish()));
}

AotStats AotCache::stats() const {
  return AotStats{compilations_.load(), disk_hits_.load(), rebuilds_.load()};
}

std::optional<std::string> AotCache::Failure(const std::string& key) const {
  absl::StatusOr<std::string> text = ReadFileToString(dir_ / (key + ".failed"), 64 << 10);
  if (!text.ok()) return std::nullopt;
  return *std::move(text);
}

absl::Status AotCache::RecordFailure(const std::string& key, std::string_view reason) const {
  return WriteFileAtomically(dir_ / (key + ".failed"), reason, 0600, /*overwrite=*/true);
}

std::mutex& AotCache::KeyMutex(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = key_mutexes_[key];
  if (!slot) slot = std::make_unique<std::mutex>();
  return *slot;
}

absl::Status AotCache::Verify(const std::string& key) const {
  const fs::path so = dir_ / (key + ".so");
  auto expected = ReadFileToString(dir_ / (key + ".sha256"), 1024);
  auto actual = DigestOfFile(so);
  if (!actual.ok() && absl::IsNotFound(actual.status())) return actual.status();
  if (!expected.ok() && absl::IsNotFound(expected.status())) {
    // The digest is written before the .so is renamed into place: a .so without one was not put
    // there by this cache (or its digest was deleted).
    return absl::DataLossError(mesh::StrCat(so.string(), " has no digest file"));
  }
  MESH_RETURN_IF_ERROR(expected.status());
  MESH_RETURN_IF_ERROR(actual.status());
  if (expected->substr(0, expected->find('\n')) != *actual) {
    return absl::DataLossError(
        mesh::StrCat(so.string(), " does not match its SHA-256 (", *actual, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<fs::path> AotCache::Ensure(const std::string& key,
                                          const InstrumentedModule& module) {
  const fs::path so = dir_ / (key + ".so");
  std::lock_guard<std::mutex> key_lock(KeyMutex(key));
  absl::Status status = Verify(key);
  if (status.ok()) {
    disk_hits_.fetch_add(1);
    return so;
  }
  if (!allow_compile_) {
    return absl::FailedPreconditionError(mesh::StrCat(
        "module ", key, " is not compiled in the aot cache ", dir_.string(), " (",
        std::string(status.message()),
        ") and this engine may not compile; compile it first with AotEngine::Prepare"));
  }
  MESH_ASSIGN_OR_RETURN(FileLock file_lock, FileLock::Acquire(dir_ / (key + ".lock")));
  status = Verify(key);  // another process may have compiled it while we waited
  if (status.ok()) {
    disk_hits_.fetch_add(1);
    return so;
  }
  if (absl::IsDataLoss(status)) {
    std::fprintf(stderr, "mesh: aot cache entry is corrupted, rebuilding: %s\n",
                 std::string(status.message()).c_str());
    rebuilds_.fetch_add(1);
  } else if (!absl::IsNotFound(status)) {
    return status;
  }
  MESH_RETURN_IF_ERROR(Compile(key, module));
  compilations_.fetch_add(1);
  return so;
}

absl::Status AotCache::Compile(const std::string& key, const InstrumentedModule& module) {
  MESH_ASSIGN_OR_RETURN(AotSources sources, GenerateAotSources(module));
  const fs::path work = dir_ / "tmp" / mesh::StrCat(key, ".", ::getpid(), ".", work_dirs_++);
  std::error_code ec;
  fs::create_directories(work, ec);
  if (ec) {
    return absl::InternalError(mesh::StrCat("cannot create ", work.string(), ": ", ec.message()));
  }
  struct Cleanup {
    fs::path path;
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  } cleanup{work};
  const std::pair<const char*, std::string_view> files[] = {{"job.c", sources.module_c},
                                                            {"job.h", sources.module_h},
                                                            {"mesh_glue.c", sources.glue_c},
                                                            {"wasm-rt.h", WasmRtHeader()},
                                                            {"wasm-rt-impl.h", WasmRtImplHeader()}};
  for (const auto& [name, text] : files) {
    MESH_ASSIGN_OR_RETURN(ScopedFd fd,
                          OpenFile(work / name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    MESH_RETURN_IF_ERROR(WriteAll(fd.get(), text));
  }
  const fs::path built = work / "job.so";
  MESH_RETURN_IF_ERROR(
      compiler_.CompileSharedObject({work / "job.c", work / "mesh_glue.c"}, work, built));
  {
    MESH_ASSIGN_OR_RETURN(ScopedFd fd, OpenFile(built, O_RDONLY | O_CLOEXEC));
    if (::fsync(fd.get()) != 0) return ErrnoToStatus(errno, mesh::StrCat("fsync ", built.string()));
  }
  MESH_ASSIGN_OR_RETURN(std::string digest, DigestOfFile(built));
  MESH_RETURN_IF_ERROR(
      WriteFileAtomically(dir_ / (key + ".sha256"), digest + "\n", 0600, /*overwrite=*/true));
  const fs::path so = dir_ / (key + ".so");
  if (::rename(built.c_str(), so.c_str()) != 0) {
    return ErrnoToStatus(errno, mesh::StrCat("renaming ", built.string(), " to ", so.string()));
  }
  return FsyncDirectory(dir_);
}

}  // namespace mesh::wasm::aot
