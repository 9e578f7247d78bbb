// The messages between the worker pool and a mesh-worker process, carried in frames (frame.h).
// Each body starts with a MessageType byte; fields follow in a fixed order, integers
// little-endian, byte strings with a u32 length. Hand-written rather than CBOR/JSON because a
// tiny job's round trip must cost microseconds; every decoder checks each length against what
// remains and names the field it could not read.
//
// Conversation: the worker sends kHello once its sandbox is in place (or says why it could not
// set it up). Then, per job, the pool sends kRun and the worker answers kResult, kNeedModule
// (the request named a module the worker does not hold: resend with the module) or kError.
// While a job runs the worker may send any number of kProgress frames before that answer (the
// job's mesh.progress calls, rate-limited by the worker), and one kCheckpoint or kPartial frame
// per mesh.checkpoint or mesh.emit_partial call, never after it: once the answer is in, the
// channel is quiet until the next request.
//
// Build processes (mesh-worker --mode=prepare|compile, build_worker.h) answer exactly one
// request after their kHello: kInstrument (raw module bytes) gets kInstrumented (the
// instrumented module) or kError; kCompile (an instrumented module) gets kCompiled or kError.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "mesh/wasm/engine.h"
#include "mesh/wasm/instrumenter.h"
#include "mesh/wasm/job_host.h"
#include "mesh/wasm/limits.h"

namespace mesh::exec {

// Bumped on any change to the messages; the pool refuses a worker that speaks another version
// (e.g. a stale mesh-worker binary next to a new mesh).
inline constexpr uint32_t kProtocolVersion = 6;

enum class MessageType : uint8_t {
  // worker -> pool
  kHello = 1,
  kResult = 2,
  kNeedModule = 3,
  kError = 4,
  kProgress = 5,      // a progress report of the running job; the answer is still to come
  kCheckpoint = 6,    // a mesh.checkpoint of the running job (bytes, fuel), likewise
  kPartial = 7,       // a mesh.emit_partial of the running job (bytes, fuel), likewise
  kInstrumented = 8,  // build process: the instrumented module
  kCompiled = 9,      // build process: the module is compiled into the aot cache
  kNeedInput = 10,    // a shared input named by CID only is not in the worker's cache
  // pool -> worker
  kRun = 16,
  kTestHook = 17,    // honoured only by workers started with --test-hooks
  kInstrument = 18,  // to a prepare process: raw module bytes
  kCompile = 19,     // to a compile process: an instrumented module
};

// Test-only requests that prove the sandbox holds: each makes the worker do something the
// seccomp filter forbids, so the worker should die with SIGSYS before it can answer.
enum class TestHook : uint8_t {
  kOpenForWriting = 1,  // open("/tmp/...", O_WRONLY | O_CREAT)
  kCreateSocket = 2,    // socket(AF_INET, SOCK_STREAM)
  kSpawnProcess = 3,    // fork()
};

struct Hello {
  uint32_t version = kProtocolVersion;
  std::string engine;  // the engine the worker runs
  std::string error;   // non-empty: the worker could not start, and why; it exits next
};

// Every piece of bytes a job reads from outside its JobInput, in the order a run request
// carries them: the stdin pieces, then the contents of each mount's nodes, mount by mount.
std::vector<wasm::StdinPiece*> InputPieces(wasm::JobInput& input);
std::vector<const wasm::StdinPiece*> InputPieces(const wasm::JobInput& input);

// How a run request carries each of the input's pieces (InputPieces; shared_input.h): its
// bytes inline, or by CID and size as shared memory: with a descriptor that comes with the
// frame, or from the worker's input cache.
enum class PieceSend : uint8_t { kInline = 0, kShared = 1, kSharedWithFd = 2 };

// A piece sent as shared memory, as the worker decodes it: InputPieces(input)[index] holds
// only its CID until the worker fills in the bytes.
struct SharedPieceRef {
  size_t index = 0;
  uint64_t size = 0;
  bool with_fd = false;  // the frame's descriptors go, in order, to the pieces with_fd
};

// A run request as the worker decodes it.
struct RunMessage {
  std::string module_id;
  std::optional<wasm::InstrumentedModule> module;  // absent when the pool believes it is cached
  wasm::JobInput input;
  std::vector<SharedPieceRef> shared;  // the pieces that came as shared memory
  wasm::Limits limits;
  uint32_t cpu_seconds = 0;  // the job's CPU-time budget (RLIMIT_CPU); 0 = none
  // The engine to run the job on; kAuto = the worker's own. An aot worker also runs interp
  // (tiering: a module whose compile is not done yet runs on the interpreter).
  wasm::EngineKind engine = wasm::EngineKind::kAuto;
};

// Encoders return sealed frames (header included), ready for WriteFrame.
std::string EncodeHello(const Hello& hello);
absl::StatusOr<std::string> EncodeRun(std::string_view module_id,
                                      const wasm::InstrumentedModule* module,
                                      const wasm::JobInput& input, const wasm::Limits& limits,
                                      uint32_t cpu_seconds,
                                      wasm::EngineKind engine = wasm::EngineKind::kAuto,
                                      const std::vector<PieceSend>& pieces = {});
std::string EncodeTestHook(TestHook hook);
absl::StatusOr<std::string> EncodeResult(const wasm::RunResult& result);
std::string EncodeNeedModule(std::string_view module_id);
std::string EncodeNeedInput(std::string_view cid);
std::string EncodeError(const absl::Status& status);
// Clamps the percent to 100 and cuts the message to wasm::kMaxProgressMessageBytes, as JobHost
// does, so that every encoded report decodes.
std::string EncodeProgress(const wasm::ProgressRecord& progress);
// A checkpoint or partial output as the job made it (type kCheckpoint or kPartial).
absl::StatusOr<std::string> EncodeJobBytes(MessageType type, std::string_view bytes, uint64_t fuel);

// Decoders take a frame body (header stripped). InvalidArgument names the message and field.
absl::StatusOr<MessageType> PeekType(std::string_view body);
absl::StatusOr<Hello> DecodeHello(std::string_view body);
absl::StatusOr<RunMessage> DecodeRun(std::string_view body);
absl::StatusOr<TestHook> DecodeTestHook(std::string_view body);
absl::StatusOr<wasm::RunResult> DecodeResult(std::string_view body);
absl::StatusOr<std::string> DecodeNeedModule(std::string_view body);
absl::StatusOr<std::string> DecodeNeedInput(std::string_view body);
// The error the worker reported (never OK).
absl::StatusOr<absl::Status> DecodeError(std::string_view body);
// Refuses a percent over 100 and a message over wasm::kMaxProgressMessageBytes.
absl::StatusOr<wasm::ProgressRecord> DecodeProgress(std::string_view body);
struct JobBytes {
  std::string bytes;
  uint64_t fuel = 0;
};
absl::StatusOr<JobBytes> DecodeJobBytes(MessageType type, std::string_view body);

// Build process messages. The instrumented module carries its function names too.
absl::StatusOr<std::string> EncodeInstrument(std::string_view wasm);
absl::StatusOr<std::string> DecodeInstrument(std::string_view body);
absl::StatusOr<std::string> EncodeInstrumented(const wasm::InstrumentedModule& module);
absl::StatusOr<wasm::InstrumentedModule> DecodeInstrumented(std::string_view body);
absl::StatusOr<std::string> EncodeCompile(const wasm::InstrumentedModule& module);
absl::StatusOr<wasm::InstrumentedModule> DecodeCompile(std::string_view body);
std::string EncodeCompiled();

}  // namespace mesh::exec
