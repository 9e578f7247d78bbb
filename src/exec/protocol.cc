#include "mesh/exec/protocol.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"
#include "mesh/exec/frame.h"
#include "wire.h"

namespace mesh::exec {
namespace {

using internal::WireReader;
using internal::WireWriter;

std::string StartFrame(MessageType type, size_t body_hint = 64) {
  std::string frame = NewFrame();
  frame.reserve(kFrameHeaderBytes + 1 + body_hint);
  frame.push_back(static_cast<char>(type));
  return frame;
}

// Seals a frame whose body is known to fit (small, fixed-size messages).
std::string Sealed(std::string frame) {
  absl::Status s = SealFrame(frame);
  (void)s;
  return frame;
}

std::string_view TypeName(MessageType type) {
  switch (type) {
    case MessageType::kHello:
      return "hello";
    case MessageType::kResult:
      return "run result";
    case MessageType::kNeedModule:
      return "need-module answer";
    case MessageType::kError:
      return "error answer";
    case MessageType::kProgress:
      return "progress report";
    case MessageType::kCheckpoint:
      return "checkpoint";
    case MessageType::kPartial:
      return "partial output";
    case MessageType::kRun:
      return "run request";
    case MessageType::kTestHook:
      return "test hook request";
    case MessageType::kInstrumented:
      return "instrumented module";
    case MessageType::kCompiled:
      return "compiled answer";
    case MessageType::kNeedInput:
      return "need-input answer";
    case MessageType::kInstrument:
      return "instrument request";
    case MessageType::kCompile:
      return "compile request";
  }
  return "message";
}

// Checks the type byte and returns a reader over the rest of the body.
absl::StatusOr<WireReader> Open(std::string_view body, MessageType want) {
  absl::StatusOr<MessageType> type = PeekType(body);
  if (!type.ok()) return type.status();
  if (*type != want) {
    return absl::InvalidArgumentError(
        mesh::StrCat("expected a ", TypeName(want), ", got a ", TypeName(*type)));
  }
  return WireReader(body.substr(1), TypeName(want));
}

void WriteModule(WireWriter& w, const wasm::InstrumentedModule& m) {
  w.Bytes(m.wasm);
  w.U32(static_cast<uint32_t>(m.imports.size()));
  for (const wasm::FuncImport& f : m.imports) {
    w.Bytes(f.module);
    w.Bytes(f.name);
    w.Bytes(std::string_view(reinterpret_cast<const char*>(f.params.data()), f.params.size()));
    w.Bytes(std::string_view(reinterpret_cast<const char*>(f.results.data()), f.results.size()));
  }
  w.U64(m.initial_memory_bytes);
  w.U64(m.code_units);
}

bool ReadValTypes(WireReader& r, std::string_view field, std::vector<wasm::ValType>* out) {
  std::string raw;
  if (!r.Bytes(field, &raw)) return false;
  out->clear();
  for (char c : raw) {
    if (static_cast<uint8_t>(c) > static_cast<uint8_t>(wasm::ValType::kF64)) {
      return r.Fail(mesh::StrCat("field '", field, "' holds unknown value type ",
                                 static_cast<int>(static_cast<uint8_t>(c))));
    }
    out->push_back(static_cast<wasm::ValType>(c));
  }
  return true;
}

// A piece of input as EncodeRun writes it: how it is sent, then its bytes or its CID and size.
absl::Status WritePiece(WireWriter& w, const wasm::StdinPiece& p, PieceSend send) {
  w.U8(static_cast<uint8_t>(send));
  if (send == PieceSend::kInline) {
    w.Bytes(p.bytes);
    return absl::OkStatus();
  }
  if (p.cid.empty())
    return absl::InvalidArgumentError("an input piece without a CID cannot be shared");
  w.Bytes(p.cid);
  w.U64(p.bytes.size());
  return absl::OkStatus();
}

// Reads a piece into `piece`; one sent as shared memory is noted in `shared` as the
// `index`-th of InputPieces, its bytes left for the worker to fill in.
bool ReadPiece(WireReader& r, size_t index, wasm::StdinPiece* piece,
               std::vector<SharedPieceRef>* shared) {
  uint8_t send = 0;
  if (!r.U8("piece.send", &send)) return false;
  if (send > static_cast<uint8_t>(PieceSend::kSharedWithFd)) {
    return r.Fail(mesh::StrCat("field 'piece.send' holds unknown value ", static_cast<int>(send)));
  }
  if (static_cast<PieceSend>(send) == PieceSend::kInline) {
    std::string bytes;
    if (!r.Bytes("piece.bytes", &bytes)) return false;
    *piece = wasm::StdinPiece::Owned("", std::move(bytes));
    return true;
  }
  SharedPieceRef ref{.index = index,
                     .with_fd = static_cast<PieceSend>(send) == PieceSend::kSharedWithFd};
  if (!r.Bytes("piece.cid", &piece->cid) || !r.U64("piece.size", &ref.size)) return false;
  if (piece->cid.empty()) return r.Fail("a shared input piece has an empty CID");
  shared->push_back(ref);
  return true;
}

// The mounts and the output directory of a run request; their nodes' contents are the pieces
// after the stdin pieces.
absl::Status WriteMounts(WireWriter& w, const wasm::JobInput& input,
                         const std::function<PieceSend(size_t)>& how) {
  size_t piece = input.stdin_pieces.size();
  w.U32(static_cast<uint32_t>(input.mounts.size()));
  for (const wasm::FsMount& m : input.mounts) {
    w.Bytes(m.guest_path);
    w.U8(m.read_only ? 1 : 0);
    w.U32(static_cast<uint32_t>(m.nodes.size()));
    for (const wasm::FsNode& n : m.nodes) {
      w.Bytes(n.path);
      w.U8(static_cast<uint8_t>(n.kind));
      MESH_RETURN_IF_ERROR(WritePiece(w, n.content, how(piece++)));
    }
  }
  w.Bytes(input.output_dir);
  return absl::OkStatus();
}

bool ReadMounts(WireReader& r, RunMessage& m) {
  uint32_t mounts = 0;
  if (!r.Count("mounts", 9, &mounts)) return false;
  size_t piece = m.input.stdin_pieces.size();
  m.input.mounts.resize(mounts);
  for (wasm::FsMount& mount : m.input.mounts) {
    uint8_t read_only = 0;
    uint32_t nodes = 0;
    if (!r.Bytes("mount.guest_path", &mount.guest_path) || !r.U8("mount.read_only", &read_only) ||
        !r.Count("mount.nodes", 6, &nodes)) {
      return false;
    }
    if (read_only > 1) return r.Fail("field 'mount.read_only' is neither 0 nor 1");
    mount.read_only = read_only == 1;
    mount.nodes.resize(nodes);
    for (wasm::FsNode& node : mount.nodes) {
      uint8_t kind = 0;
      if (!r.Bytes("node.path", &node.path) || !r.U8("node.kind", &kind)) return false;
      if (kind > static_cast<uint8_t>(wasm::FsKind::kSymlink)) {
        return r.Fail(
            mesh::StrCat("field 'node.kind' holds unknown kind ", static_cast<int>(kind)));
      }
      node.kind = static_cast<wasm::FsKind>(kind);
      if (!ReadPiece(r, piece++, &node.content, &m.shared)) return false;
    }
  }
  return r.Bytes("output_dir", &m.input.output_dir);
}

bool ReadModule(WireReader& r, wasm::InstrumentedModule* m) {
  uint32_t count;
  if (!r.Bytes("module.wasm", &m->wasm) || !r.Count("module.imports", 16, &count)) return false;
  m->imports.resize(count);
  for (wasm::FuncImport& f : m->imports) {
    if (!r.Bytes("import.module", &f.module) || !r.Bytes("import.name", &f.name) ||
        !ReadValTypes(r, "import.params", &f.params) ||
        !ReadValTypes(r, "import.results", &f.results)) {
      return false;
    }
  }
  return r.U64("module.initial_memory_bytes", &m->initial_memory_bytes) &&
         r.U64("module.code_units", &m->code_units);
}

void WriteDuration(WireWriter& w, absl::Duration d) { w.I64(absl::ToInt64Nanoseconds(d)); }

bool ReadDuration(WireReader& r, std::string_view field, absl::Duration* d) {
  int64_t ns;
  if (!r.I64(field, &ns)) return false;
  *d = absl::Nanoseconds(ns);
  return true;
}

size_t FilesBytes(const wasm::RunResult& result) {
  size_t n = 0;
  for (const wasm::OutputFile& f : result.files) n += 16 + f.path.size() + f.bytes.size();
  return n;
}

}  // namespace

std::vector<wasm::StdinPiece*> InputPieces(wasm::JobInput& input) {
  std::vector<wasm::StdinPiece*> all;
  for (wasm::StdinPiece& p : input.stdin_pieces) all.push_back(&p);
  for (wasm::FsMount& m : input.mounts) {
    for (wasm::FsNode& n : m.nodes) all.push_back(&n.content);
  }
  return all;
}

std::vector<const wasm::StdinPiece*> InputPieces(const wasm::JobInput& input) {
  std::vector<const wasm::StdinPiece*> all;
  for (const wasm::StdinPiece& p : input.stdin_pieces) all.push_back(&p);
  for (const wasm::FsMount& m : input.mounts) {
    for (const wasm::FsNode& n : m.nodes) all.push_back(&n.content);
  }
  return all;
}

absl::StatusOr<MessageType> PeekType(std::string_view body) {
  if (body.empty()) return absl::InvalidArgumentError("malformed message: empty body");
  const auto type = static_cast<MessageType>(body[0]);
  switch (type) {
    case MessageType::kHello:
    case MessageType::kResult:
    case MessageType::kNeedModule:
    case MessageType::kError:
    case MessageType::kProgress:
    case MessageType::kCheckpoint:
    case MessageType::kPartial:
    case MessageType::kRun:
    case MessageType::kTestHook:
    case MessageType::kInstrumented:
    case MessageType::kCompiled:
    case MessageType::kNeedInput:
    case MessageType::kInstrument:
    case MessageType::kCompile:
      return type;
  }
  return absl::InvalidArgumentError(mesh::StrCat("malformed message: unknown message type ",
                                                 static_cast<int>(static_cast<uint8_t>(body[0]))));
}

std::string EncodeHello(const Hello& hello) {
  std::string frame = StartFrame(MessageType::kHello);
  WireWriter w(frame);
  w.U32(hello.version);
  w.Bytes(hello.engine);
  w.Bytes(hello.error);
  return Sealed(std::move(frame));
}

absl::StatusOr<Hello> DecodeHello(std::string_view body) {
  absl::StatusOr<WireReader> r = Open(body, MessageType::kHello);
  if (!r.ok()) return r.status();
  Hello hello;
  (void)(r->U32("version", &hello.version) && r->Bytes("engine", &hello.engine) &&
         r->Bytes("error", &hello.error));
  if (absl::Status s = r->Finish(); !s.ok()) return s;
  return hello;
}

absl::StatusOr<std::string> EncodeRun(std::string_view module_id,
                                      const wasm::InstrumentedModule* module,
                                      const wasm::JobInput& input, const wasm::Limits& limits,
                                      uint32_t cpu_seconds, wasm::EngineKind engine,
                                      const std::vector<PieceSend>& pieces) {
  const std::vector<const wasm::StdinPiece*> all = InputPieces(input);
  if (!pieces.empty() && pieces.size() != all.size()) {
    return absl::InvalidArgumentError(mesh::StrCat(
        "a run request with ", all.size(), " input pieces told how to send ", pieces.size()));
  }
  auto how = [&](size_t i) { return pieces.empty() ? PieceSend::kInline : pieces[i]; };
  size_t hint = 128 + module_id.size() + input.stdin_bytes.size() +
                input.resume_checkpoint.value_or("").size() + input.output_dir.size();
  for (size_t i = 0; i < all.size(); ++i) {
    hint += 24 + all[i]->cid.size() + (how(i) == PieceSend::kInline ? all[i]->bytes.size() : 0);
  }
  for (const wasm::FsMount& m : input.mounts) {
    hint += 16 + m.guest_path.size();
    for (const wasm::FsNode& n : m.nodes) hint += n.path.size();
  }
  if (module != nullptr) hint += module->wasm.size() + 64 * module->imports.size();
  for (const std::string& a : input.args) hint += 4 + a.size();
  for (const auto& [k, v] : input.env) hint += 8 + k.size() + v.size();
  std::string frame = StartFrame(MessageType::kRun, hint);
  WireWriter w(frame);
  w.Bytes(module_id);
  w.U8(module != nullptr ? 1 : 0);
  if (module != nullptr) WriteModule(w, *module);
  w.Bytes(input.stdin_bytes);
  w.U32(static_cast<uint32_t>(input.stdin_pieces.size()));
  for (size_t i = 0; i < input.stdin_pieces.size(); ++i) {
    MESH_RETURN_IF_ERROR(WritePiece(w, input.stdin_pieces[i], how(i)));
  }
  MESH_RETURN_IF_ERROR(WriteMounts(w, input, how));
  w.U32(static_cast<uint32_t>(input.args.size()));
  for (const std::string& a : input.args) w.Bytes(a);
  w.U32(static_cast<uint32_t>(input.env.size()));
  for (const auto& [k, v] : input.env) {
    w.Bytes(k);
    w.Bytes(v);
  }
  frame.append(reinterpret_cast<const char*>(input.seed.data()), input.seed.size());
  w.U8(input.deterministic ? 1 : 0);
  w.U8(input.resume_checkpoint.has_value() ? 1 : 0);
  if (input.resume_checkpoint.has_value()) w.Bytes(*input.resume_checkpoint);
  w.U64(limits.fuel);
  w.U64(limits.memory_bytes);
  WriteDuration(w, limits.wall_time);
  w.U64(limits.max_output_bytes);
  w.U64(limits.max_stderr_bytes);
  w.U64(limits.fs_bytes);
  w.U64(limits.fs_files);
  w.U32(cpu_seconds);
  w.U8(static_cast<uint8_t>(engine));
  if (absl::Status s = SealFrame(frame); !s.ok()) return s;
  return frame;
}

absl::StatusOr<RunMessage> DecodeRun(std::string_view body) {
  absl::StatusOr<WireReader> opened = Open(body, MessageType::kRun);
  if (!opened.ok()) return opened.status();
  WireReader& r = *opened;
  RunMessage m;
  uint8_t has_module = 0, deterministic = 1, resumes = 0;
  uint32_t count = 0;
  bool ok = r.Bytes("module_id", &m.module_id) && r.U8("has_module", &has_module);
  if (ok && has_module > 1) ok = r.Fail("field 'has_module' is neither 0 nor 1");
  if (ok && has_module == 1) ok = ReadModule(r, &m.module.emplace());
  ok = ok && r.Bytes("stdin", &m.input.stdin_bytes) && r.Count("stdin_pieces", 5, &count);
  if (ok) m.input.stdin_pieces.resize(count);
  for (uint32_t i = 0; ok && i < count; ++i) {
    ok = ReadPiece(r, i, &m.input.stdin_pieces[i], &m.shared);
  }
  ok = ok && ReadMounts(r, m);
  ok = ok && r.Count("args", 4, &count);
  if (ok) {
    m.input.args.resize(count);
    for (std::string& a : m.input.args) ok = ok && r.Bytes("arg", &a);
  }
  ok = ok && r.Count("env", 8, &count);
  if (ok) {
    m.input.env.resize(count);
    for (auto& [k, v] : m.input.env) ok = ok && r.Bytes("env.name", &k) && r.Bytes("env.value", &v);
  }
  for (uint8_t& b : m.input.seed) ok = ok && r.U8("seed", &b);
  ok = ok && r.U8("deterministic", &deterministic) && r.U8("resumes", &resumes);
  if (ok && resumes > 1) ok = r.Fail("field 'resumes' is neither 0 nor 1");
  if (ok && resumes == 1) ok = r.Bytes("resume_checkpoint", &m.input.resume_checkpoint.emplace());
  ok = ok && r.U64("limits.fuel", &m.limits.fuel) &&
       r.U64("limits.memory_bytes", &m.limits.memory_bytes) &&
       ReadDuration(r, "limits.wall_time", &m.limits.wall_time) &&
       r.U64("limits.max_output_bytes", &m.limits.max_output_bytes) &&
       r.U64("limits.max_stderr_bytes", &m.limits.max_stderr_bytes) &&
       r.U64("limits.fs_bytes", &m.limits.fs_bytes) &&
       r.U64("limits.fs_files", &m.limits.fs_files) && r.U32("cpu_seconds", &m.cpu_seconds);
  uint8_t engine = 0;
  ok = ok && r.U8("engine", &engine);
  if (ok && engine > static_cast<uint8_t>(wasm::EngineKind::kAot)) {
    ok = r.Fail(mesh::StrCat("field 'engine' holds unknown engine ", static_cast<int>(engine)));
  }
  m.engine = static_cast<wasm::EngineKind>(engine);
  m.input.deterministic = deterministic != 0;
  if (absl::Status s = r.Finish(); !s.ok()) return s;
  return m;
}

std::string EncodeTestHook(TestHook hook) {
  std::string frame = StartFrame(MessageType::kTestHook);
  WireWriter(frame).U8(static_cast<uint8_t>(hook));
  return Sealed(std::move(frame));
}

absl::StatusOr<TestHook> DecodeTestHook(std::string_view body) {
  absl::StatusOr<WireReader> r = Open(body, MessageType::kTestHook);
  if (!r.ok()) return r.status();
  uint8_t hook = 0;
  if (r->U8("hook", &hook) && (hook < 1 || hook > 3)) r->Fail("unknown test hook");
  if (absl::Status s = r->Finish(); !s.ok()) return s;
  return static_cast<TestHook>(hook);
}

absl::StatusOr<std::string> EncodeResult(const wasm::RunResult& result) {
  const wasm::RunReport& rep = result.report;
  std::string frame =
      StartFrame(MessageType::kResult, 256 + rep.message.size() + rep.stderr_tail.size() +
                                           result.output.size() + result.partials.size() +
                                           result.checkpoint.size() + FilesBytes(result));
  WireWriter w(frame);
  w.U8(static_cast<uint8_t>(rep.outcome));
  w.Bytes(rep.message);
  w.Bytes(rep.trap_kind);
  w.Bytes(rep.trap_function);
  w.U32(static_cast<uint32_t>(rep.exit_code));
  w.U64(rep.fuel_used);
  w.U64(rep.fuel_limit);
  w.U64(rep.peak_memory_bytes);
  WriteDuration(w, rep.wall_time);
  WriteDuration(w, rep.cpu_time);
  w.Bytes(rep.engine);
  w.Bytes(rep.output_cid);
  w.U64(rep.output_bytes);
  w.Bytes(rep.stderr_tail);
  w.U32(static_cast<uint32_t>(rep.progress.size()));
  for (const auto& p : rep.progress) {
    w.U32(p.percent);
    w.Bytes(p.message);
    w.U64(p.fuel);
  }
  w.U32(static_cast<uint32_t>(rep.checkpoints.size()));
  for (const auto& c : rep.checkpoints) {
    w.U64(c.size);
    w.Bytes(c.sha256_hex);
    w.U64(c.fuel);
  }
  w.U32(static_cast<uint32_t>(rep.partials.size()));
  for (const auto& p : rep.partials) {
    w.U64(p.offset);
    w.U64(p.size);
    w.U64(p.fuel);
  }
  w.U32(rep.memory_grows_refused);
  w.U64(rep.fs_bytes_written);
  w.U64(rep.fs_files_created);
  w.U32(rep.fs_bytes_refusals);
  w.U32(rep.fs_files_refusals);
  w.Bytes(result.output);
  w.Bytes(result.partials);
  w.Bytes(result.checkpoint);
  w.U32(static_cast<uint32_t>(result.files.size()));
  for (const wasm::OutputFile& f : result.files) {
    w.Bytes(f.path);
    w.U8(static_cast<uint8_t>(f.kind));
    w.Bytes(f.bytes);
  }
  if (absl::Status s = SealFrame(frame); !s.ok()) return s;
  return frame;
}

absl::StatusOr<wasm::RunResult> DecodeResult(std::string_view body) {
  absl::StatusOr<WireReader> opened = Open(body, MessageType::kResult);
  if (!opened.ok()) return opened.status();
  WireReader& r = *opened;
  wasm::RunResult result;
  wasm::RunReport& rep = result.report;
  uint8_t outcome = 0;
  uint32_t exit_code = 0, count = 0;
  bool ok = r.U8("outcome", &outcome);
  if (ok && outcome > static_cast<uint8_t>(wasm::Outcome::kCrashed)) {
    ok = r.Fail(mesh::StrCat("field 'outcome' holds unknown outcome ", outcome));
  }
  rep.outcome = static_cast<wasm::Outcome>(outcome);
  ok = ok && r.Bytes("message", &rep.message) && r.Bytes("trap_kind", &rep.trap_kind) &&
       r.Bytes("trap_function", &rep.trap_function) && r.U32("exit_code", &exit_code) &&
       r.U64("fuel_used", &rep.fuel_used) && r.U64("fuel_limit", &rep.fuel_limit) &&
       r.U64("peak_memory_bytes", &rep.peak_memory_bytes) &&
       ReadDuration(r, "wall_time", &rep.wall_time) && ReadDuration(r, "cpu_time", &rep.cpu_time) &&
       r.Bytes("engine", &rep.engine) && r.Bytes("output_cid", &rep.output_cid) &&
       r.U64("output_bytes", &rep.output_bytes) && r.Bytes("stderr_tail", &rep.stderr_tail) &&
       r.Count("progress", 16, &count);
  rep.exit_code = static_cast<int32_t>(exit_code);
  if (ok) {
    rep.progress.resize(count);
    for (auto& p : rep.progress) {
      ok = ok && r.U32("progress.percent", &p.percent) && r.Bytes("progress.message", &p.message) &&
           r.U64("progress.fuel", &p.fuel);
    }
  }
  ok = ok && r.Count("checkpoints", 20, &count);
  if (ok) {
    rep.checkpoints.resize(count);
    for (auto& c : rep.checkpoints) {
      ok = ok && r.U64("checkpoint.size", &c.size) && r.Bytes("checkpoint.sha256", &c.sha256_hex) &&
           r.U64("checkpoint.fuel", &c.fuel);
    }
  }
  ok = ok && r.Count("partials", 24, &count);
  if (ok) {
    rep.partials.resize(count);
    for (auto& p : rep.partials) {
      ok = ok && r.U64("partial.offset", &p.offset) && r.U64("partial.size", &p.size) &&
           r.U64("partial.fuel", &p.fuel);
    }
  }
  ok = ok && r.U32("memory_grows_refused", &rep.memory_grows_refused) &&
       r.U64("fs_bytes_written", &rep.fs_bytes_written) &&
       r.U64("fs_files_created", &rep.fs_files_created) &&
       r.U32("fs_bytes_refusals", &rep.fs_bytes_refusals) &&
       r.U32("fs_files_refusals", &rep.fs_files_refusals) && r.Bytes("output", &result.output) &&
       r.Bytes("partials", &result.partials) && r.Bytes("checkpoint", &result.checkpoint) &&
       r.Count("files", 9, &count);
  if (ok) result.files.resize(count);
  for (wasm::OutputFile& f : result.files) {
    uint8_t kind = 0;
    ok = ok && r.Bytes("file.path", &f.path) && r.U8("file.kind", &kind);
    if (ok && kind > static_cast<uint8_t>(wasm::FsKind::kSymlink)) {
      ok = r.Fail(mesh::StrCat("field 'file.kind' holds unknown kind ", static_cast<int>(kind)));
    }
    f.kind = static_cast<wasm::FsKind>(kind);
    ok = ok && r.Bytes("file.bytes", &f.bytes);
  }
  if (absl::Status s = r.Finish(); !s.ok()) return s;
  return result;
}

std::string EncodeNeedModule(std::string_view module_id) {
  std::string frame = StartFrame(MessageType::kNeedModule, module_id.size() + 4);
  WireWriter(frame).Bytes(module_id);
  return Sealed(std::move(frame));
}

std::string EncodeNeedInput(std::string_view cid) {
  std::string frame = StartFrame(MessageType::kNeedInput, cid.size() + 4);
  WireWriter(frame).Bytes(cid);
  return Sealed(std::move(frame));
}

absl::StatusOr<std::string> DecodeNeedInput(std::string_view body) {
  absl::StatusOr<WireReader> r = Open(body, MessageType::kNeedInput);
  if (!r.ok()) return r.status();
  std::string cid;
  r->Bytes("cid", &cid);
  if (absl::Status s = r->Finish(); !s.ok()) return s;
  return cid;
}

absl::StatusOr<std::string> DecodeNeedModule(std::string_view body) {
  absl::StatusOr<WireReader> r = Open(body, MessageType::kNeedModule);
  if (!r.ok()) return r.status();
  std::string id;
  r->Bytes("module_id", &id);
  if (absl::Status s = r->Finish(); !s.ok()) return s;
  return id;
}

std::string EncodeError(const absl::Status& status) {
  std::string frame = StartFrame(MessageType::kError, status.message().size() + 8);
  WireWriter w(frame);
  w.U8(static_cast<uint8_t>(status.ok() ? absl::StatusCode::kUnknown : status.code()));
  w.Bytes(ToStd(status.message()));
  return Sealed(std::move(frame));
}

absl::StatusOr<absl::Status> DecodeError(std::string_view body) {
  absl::StatusOr<WireReader> r = Open(body, MessageType::kError);
  if (!r.ok()) return r.status();
  uint8_t code = 0;
  std::string message;
  if (r->U8("code", &code) && (code == 0 || code > 16)) r->Fail("field 'code' is not an error");
  r->Bytes("message", &message);
  if (absl::Status s = r->Finish(); !s.ok()) return s;
  return absl::Status(static_cast<absl::StatusCode>(code), ToAbsl(message));
}

std::string EncodeProgress(const wasm::ProgressRecord& progress) {
  const std::string_view message =
      std::string_view(progress.message).substr(0, wasm::kMaxProgressMessageBytes);
  std::string frame = StartFrame(MessageType::kProgress, 16 + message.size());
  WireWriter w(frame);
  w.U32(std::min<uint32_t>(progress.percent, 100));
  w.Bytes(message);
  w.U64(progress.fuel);
  return Sealed(std::move(frame));
}

absl::StatusOr<std::string> EncodeJobBytes(MessageType type, std::string_view bytes,
                                           uint64_t fuel) {
  std::string frame = StartFrame(type, 16 + bytes.size());
  WireWriter w(frame);
  w.Bytes(bytes);
  w.U64(fuel);
  if (absl::Status s = SealFrame(frame); !s.ok()) return s;
  return frame;
}

absl::StatusOr<JobBytes> DecodeJobBytes(MessageType type, std::string_view body) {
  absl::StatusOr<WireReader> r = Open(body, type);
  if (!r.ok()) return r.status();
  JobBytes out;
  (void)(r->Bytes("bytes", &out.bytes) && r->U64("fuel", &out.fuel));
  if (absl::Status s = r->Finish(); !s.ok()) return s;
  return out;
}

absl::StatusOr<wasm::ProgressRecord> DecodeProgress(std::string_view body) {
  absl::StatusOr<WireReader> r = Open(body, MessageType::kProgress);
  if (!r.ok()) return r.status();
  wasm::ProgressRecord progress;
  if (r->U32("percent", &progress.percent) && progress.percent > 100) {
    r->Fail(mesh::StrCat("field 'percent' is ", progress.percent, ", over 100"));
  }
  if (r->Bytes("message", &progress.message) &&
      progress.message.size() > wasm::kMaxProgressMessageBytes) {
    r->Fail(mesh::StrCat("field 'message' is ", progress.message.size(),
                         " bytes, over the limit of ", wasm::kMaxProgressMessageBytes));
  }
  r->U64("fuel", &progress.fuel);
  if (absl::Status s = r->Finish(); !s.ok()) return s;
  return progress;
}

namespace {

absl::StatusOr<std::string> SealOrError(std::string frame) {
  if (absl::Status s = SealFrame(frame); !s.ok()) return s;
  return frame;
}

void WriteNames(WireWriter& w, const wasm::InstrumentedModule& m) {
  w.U32(static_cast<uint32_t>(m.function_names.size()));
  for (const std::string& name : m.function_names) w.Bytes(name);
}

bool ReadNames(WireReader& r, wasm::InstrumentedModule* m) {
  uint32_t count;
  if (!r.Count("module.function_names", 4, &count)) return false;
  m->function_names.resize(count);
  for (std::string& name : m->function_names) {
    if (!r.Bytes("function_name", &name)) return false;
  }
  return true;
}

absl::StatusOr<std::string> EncodeModuleMessage(MessageType type,
                                                const wasm::InstrumentedModule& module) {
  std::string frame = StartFrame(type, 64 + module.wasm.size() + 64 * module.imports.size());
  WireWriter w(frame);
  WriteModule(w, module);
  WriteNames(w, module);
  return SealOrError(std::move(frame));
}

absl::StatusOr<wasm::InstrumentedModule> DecodeModuleMessage(MessageType type,
                                                             std::string_view body) {
  absl::StatusOr<WireReader> opened = Open(body, type);
  if (!opened.ok()) return opened.status();
  wasm::InstrumentedModule m;
  if (ReadModule(*opened, &m)) ReadNames(*opened, &m);
  if (absl::Status s = opened->Finish(); !s.ok()) return s;
  return m;
}

}  // namespace

absl::StatusOr<std::string> EncodeInstrument(std::string_view wasm) {
  std::string frame = StartFrame(MessageType::kInstrument, 8 + wasm.size());
  WireWriter(frame).Bytes(wasm);
  return SealOrError(std::move(frame));
}

absl::StatusOr<std::string> DecodeInstrument(std::string_view body) {
  absl::StatusOr<WireReader> opened = Open(body, MessageType::kInstrument);
  if (!opened.ok()) return opened.status();
  std::string wasm;
  opened->Bytes("wasm", &wasm);
  if (absl::Status s = opened->Finish(); !s.ok()) return s;
  return wasm;
}

absl::StatusOr<std::string> EncodeInstrumented(const wasm::InstrumentedModule& module) {
  return EncodeModuleMessage(MessageType::kInstrumented, module);
}

absl::StatusOr<wasm::InstrumentedModule> DecodeInstrumented(std::string_view body) {
  return DecodeModuleMessage(MessageType::kInstrumented, body);
}

absl::StatusOr<std::string> EncodeCompile(const wasm::InstrumentedModule& module) {
  return EncodeModuleMessage(MessageType::kCompile, module);
}

absl::StatusOr<wasm::InstrumentedModule> DecodeCompile(std::string_view body) {
  return DecodeModuleMessage(MessageType::kCompile, body);
}

std::string EncodeCompiled() { return Sealed(StartFrame(MessageType::kCompiled)); }

}  // namespace mesh::exec
