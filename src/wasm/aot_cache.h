// The aot engine's on-disk cache of compiled modules:
//
//   <dir>/<key>.so       the compiled module (shared object)
//   <dir>/<key>.sha256   SHA-256 of the .so, written before the .so is renamed into place
//   <dir>/<key>.lock     flock(2)ed while the module is being compiled
//   <dir>/<key>.failed   why the module could not be compiled within the limits (the worker
//                        pool writes it, so a node does not retry a hostile module forever;
//                        delete the file to retry)
//   <dir>/tmp/           work directories of compilations in progress
//
// The key is SHA-256 over the instrumented module, the compiler, its version, the flags, the
// WABT version, the wasm2c runtime headers and the glue ABI version: any change compiles anew.
// A key is compiled exactly once across threads (a mutex per key) and processes (the flock);
// files appear by rename, so a reader sees a whole entry or none. An entry whose .so does not
// match its digest is reported and rebuilt. Thread-safe.
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "aot_compiler.h"
#include "mesh/wasm/aot_engine.h"
#include "mesh/wasm/instrumenter.h"

namespace mesh::wasm::aot {

class AotCache {
 public:
  // Creates `dir` (mode 0700). `compiler_version` is the first line of `<compiler> --version`
  // as a parent process already asked it (so each worker does not exec the compiler again);
  // empty: ask the compiler now.
  static absl::StatusOr<std::unique_ptr<AotCache>> Open(const std::filesystem::path& dir,
                                                        CCompiler compiler, bool allow_compile,
                                                        std::string compiler_version = "");

  // The cache key of `module`, 64 hex digits.
  std::string KeyFor(const InstrumentedModule& module) const;

  // The path of a verified compiled `module` (whose key is `key`), compiling it first when the
  // cache lacks it or holds a corrupted copy. InvalidArgument when wasm2c rejects the module,
  // Internal when the compiler fails, FailedPrecondition when it would have to compile but may
  // not (`allow_compile` false).
  absl::StatusOr<std::filesystem::path> Ensure(const std::string& key,
                                               const InstrumentedModule& module);

  // Whether the cache holds a verified compiled module for `key` (never compiles).
  bool Has(const std::string& key) const { return Verify(key).ok(); }
  // The text of <key>.failed, if present.
  std::optional<std::string> Failure(const std::string& key) const;
  absl::Status RecordFailure(const std::string& key, std::string_view reason) const;

  AotStats stats() const;
  const std::filesystem::path& dir() const { return dir_; }
  // The compiler version in the cache key (asked or given to Open).
  const std::string& compiler_version() const { return compiler_version_; }

 private:
  AotCache(std::filesystem::path dir, CCompiler compiler, std::string compiler_version,
           std::string key_prefix, bool allow_compile)
      : dir_(std::move(dir)),
        compiler_(std::move(compiler)),
        compiler_version_(std::move(compiler_version)),
        key_prefix_(std::move(key_prefix)),
        allow_compile_(allow_compile) {}

  // Ok, NotFound (no entry) or DataLoss (the .so does not match its digest).
  absl::Status Verify(const std::string& key) const;
  absl::Status Compile(const std::string& key, const InstrumentedModule& module);
  std::mutex& KeyMutex(const std::string& key);

  const std::filesystem::path dir_;
  const CCompiler compiler_;
  const std::string compiler_version_;
  const std::string key_prefix_;  // everything hashed into a key except the module
  const bool allow_compile_;

  std::mutex mu_;
  std::map<std::string, std::unique_ptr<std::mutex>> key_mutexes_;  // guarded by mu_; never shrinks
  std::atomic<uint64_t> compilations_{0};
  std::atomic<uint64_t> disk_hits_{0};
  std::atomic<uint64_t> rebuilds_{0};
  std::atomic<uint64_t> work_dirs_{0};
};

}  // namespace mesh::wasm::aot
