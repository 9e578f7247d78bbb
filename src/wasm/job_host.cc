#include "mesh/wasm/job_host.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "guest_memory.h"
#include "mesh/common/hex.h"
#include "mesh/common/strings.h"
#include "mesh/crypto/sha256.h"
#include "mesh/wasm/wasi_fs.h"

namespace mesh::wasm {
namespace {

// WASI errno values (wasi_snapshot_preview1).
constexpr uint32_t kSuccess = 0;
constexpr uint32_t kEbadf = 8;
constexpr uint32_t kEfault = 21;
constexpr uint32_t kEinval = 28;
constexpr uint32_t kEnosys = 52;
constexpr uint32_t kEspipe = 70;
constexpr uint32_t kEnotcapable = 76;

constexpr uint8_t kFiletypeUnknown = 0;
constexpr uint64_t kRightFdRead = 1ull << 1;
constexpr uint64_t kRightFdWrite = 1ull << 6;
// Virtual time starts at 2020-01-01T00:00:00Z so date arithmetic in jobs behaves normally.
constexpr uint64_t kVirtualEpochNs = 1577836800ull * 1000000000ull;
constexpr size_t kMaxProgressRecords = 10000;

// Signatures: params ':' results, with i=i32, I=i64.
struct HostFuncSpec {
  std::string_view module;
  std::string_view name;
  std::string_view signature;
  HostFuncId id;
};

constexpr std::string_view kWasi = "wasi_snapshot_preview1";
constexpr HostFuncSpec kHostFuncs[] = {
    {kWasi, "args_get", "ii:i", HostFuncId::kArgsGet},
    {kWasi, "args_sizes_get", "ii:i", HostFuncId::kArgsSizesGet},
    {kWasi, "environ_get", "ii:i", HostFuncId::kEnvironGet},
    {kWasi, "environ_sizes_get", "ii:i", HostFuncId::kEnvironSizesGet},
    {kWasi, "clock_res_get", "ii:i", HostFuncId::kClockResGet},
    {kWasi, "clock_time_get", "iIi:i", HostFuncId::kClockTimeGet},
    {kWasi, "fd_advise", "iIIi:i", HostFuncId::kFdAdvise},
    {kWasi, "fd_allocate", "iII:i", HostFuncId::kFdAllocate},
    {kWasi, "fd_close", "i:i", HostFuncId::kFdClose},
    {kWasi, "fd_datasync", "i:i", HostFuncId::kFdDatasync},
    {kWasi, "fd_fdstat_get", "ii:i", HostFuncId::kFdFdstatGet},
    {kWasi, "fd_fdstat_set_flags", "ii:i", HostFuncId::kFdFdstatSetFlags},
    {kWasi, "fd_fdstat_set_rights", "iII:i", HostFuncId::kFdFdstatSetRights},
    {kWasi, "fd_filestat_get", "ii:i", HostFuncId::kFdFilestatGet},
    {kWasi, "fd_filestat_set_size", "iI:i", HostFuncId::kFdFilestatSetSize},
    {kWasi, "fd_filestat_set_times", "iIIi:i", HostFuncId::kFdFilestatSetTimes},
    {kWasi, "fd_pread", "iiiIi:i", HostFuncId::kFdPread},
    {kWasi, "fd_prestat_get", "ii:i", HostFuncId::kFdPrestatGet},
    {kWasi, "fd_prestat_dir_name", "iii:i", HostFuncId::kFdPrestatDirName},
    {kWasi, "fd_pwrite", "iiiIi:i", HostFuncId::kFdPwrite},
    {kWasi, "fd_read", "iiii:i", HostFuncId::kFdRead},
    {kWasi, "fd_readdir", "iiiIi:i", HostFuncId::kFdReaddir},
    {kWasi, "fd_renumber", "ii:i", HostFuncId::kFdRenumber},
    {kWasi, "fd_seek", "iIii:i", HostFuncId::kFdSeek},
    {kWasi, "fd_sync", "i:i", HostFuncId::kFdSync},
    {kWasi, "fd_tell", "ii:i", HostFuncId::kFdTell},
    {kWasi, "fd_write", "iiii:i", HostFuncId::kFdWrite},
    {kWasi, "path_create_directory", "iii:i", HostFuncId::kPathCreateDirectory},
    {kWasi, "path_filestat_get", "iiiii:i", HostFuncId::kPathFilestatGet},
    {kWasi, "path_filestat_set_times", "iiiiIIi:i", HostFuncId::kPathFilestatSetTimes},
    {kWasi, "path_link", "iiiiiii:i", HostFuncId::kPathLink},
    {kWasi, "path_open", "iiiiiIIii:i", HostFuncId::kPathOpen},
    {kWasi, "path_readlink", "iiiiii:i", HostFuncId::kPathReadlink},
    {kWasi, "path_remove_directory", "iii:i", HostFuncId::kPathRemoveDirectory},
    {kWasi, "path_rename", "iiiiii:i", HostFuncId::kPathRename},
    {kWasi, "path_symlink", "iiiii:i", HostFuncId::kPathSymlink},
    {kWasi, "path_unlink_file", "iii:i", HostFuncId::kPathUnlinkFile},
    {kWasi, "poll_oneoff", "iiii:i", HostFuncId::kPollOneoff},
    {kWasi, "proc_exit", "i:", HostFuncId::kProcExit},
    {kWasi, "proc_raise", "i:i", HostFuncId::kStubNosys},
    {kWasi, "sched_yield", ":i", HostFuncId::kSchedYield},
    {kWasi, "random_get", "ii:i", HostFuncId::kRandomGet},
    {kWasi, "sock_accept", "iii:i", HostFuncId::kStubNotcapable},
    {kWasi, "sock_recv", "iiiiii:i", HostFuncId::kStubNotcapable},
    {kWasi, "sock_send", "iiiii:i", HostFuncId::kStubNotcapable},
    {kWasi, "sock_shutdown", "ii:i", HostFuncId::kStubNotcapable},
    {"mesh", "progress", "iii:", HostFuncId::kMeshProgress},
    {"mesh", "checkpoint", "ii:", HostFuncId::kMeshCheckpoint},
    {"mesh", "emit_partial", "ii:", HostFuncId::kMeshEmitPartial},
    {"mesh", "restore", "ii:i", HostFuncId::kMeshRestore},
};

std::string SignatureOf(const FuncImport& import) {
  auto code = [](ValType t) {
    switch (t) {
      case ValType::kI32:
        return 'i';
      case ValType::kI64:
        return 'I';
      case ValType::kF32:
        return 'f';
      case ValType::kF64:
        return 'F';
    }
    return '?';
  };
  std::string sig;
  for (ValType t : import.params) sig.push_back(code(t));
  sig.push_back(':');
  for (ValType t : import.results) sig.push_back(code(t));
  return sig;
}

// Writes a list of strings the way args_get/environ_get want them.
uint32_t WriteStringList(GuestMemory m, const std::vector<std::string>& items, uint32_t ptrs,
                         uint32_t buf) {
  uint64_t offset = buf;
  for (size_t i = 0; i < items.size(); ++i) {
    const uint64_t len = items[i].size() + 1;
    uint8_t* dst = GuestSpan(m, offset, len);
    if (dst == nullptr ||
        !StoreU32(m, static_cast<uint32_t>(ptrs + 4 * i), static_cast<uint32_t>(offset))) {
      return kEfault;
    }
    std::memcpy(dst, items[i].c_str(), len);
    offset += len;
  }
  return kSuccess;
}

uint32_t WriteListSizes(GuestMemory m, const std::vector<std::string>& items, uint32_t count_ptr,
                        uint32_t size_ptr) {
  uint64_t total = 0;
  for (const auto& s : items) total += s.size() + 1;
  if (!StoreU32(m, count_ptr, static_cast<uint32_t>(items.size())) ||
      !StoreU32(m, size_ptr, static_cast<uint32_t>(total))) {
    return kEfault;
  }
  return kSuccess;
}

std::vector<std::string> Argv(const JobInput& in) {
  std::vector<std::string> argv = {"job.wasm"};
  argv.insert(argv.end(), in.args.begin(), in.args.end());
  return argv;
}

std::vector<std::string> Environ(const JobInput& in) {
  std::vector<std::string> env;
  for (const auto& [k, v] : in.env) env.push_back(k + "=" + v);
  return env;
}

}  // namespace

JobHost::JobHost(JobInput input, const Limits& limits) : input_(std::move(input)), limits_(limits) {
  // File timestamps come from the job's realtime clock: virtual in deterministic mode, so a
  // mount's timestamps are the epoch everywhere.
  auto fs = WasiFs::Create(std::move(input_.mounts), input_.output_dir, limits_,
                           [this] { return NowNs(0); });
  input_.mounts.clear();
  if (fs.ok()) {
    fs_ = *std::move(fs);
  } else {
    status_ = fs.status();
  }
}

JobHost::~JobHost() = default;

absl::StatusOr<std::vector<HostFuncId>> JobHost::Bind(const std::vector<FuncImport>& imports) {
  std::vector<HostFuncId> ids;
  ids.reserve(imports.size());
  for (const FuncImport& import : imports) {
    const HostFuncSpec* found = nullptr;
    for (const HostFuncSpec& spec : kHostFuncs) {
      if (spec.module == import.module && spec.name == import.name) found = &spec;
    }
    if (found == nullptr) {
      return absl::UnimplementedError(
          mesh::StrCat("unsupported import ", import.module, ".", import.name,
                       ": jobs may import wasi_snapshot_preview1 and mesh functions only"));
    }
    const std::string sig = SignatureOf(import);
    if (sig != found->signature) {
      return absl::UnimplementedError(mesh::StrCat("import ", import.module, ".", import.name,
                                                   " has signature ", sig, ", expected ",
                                                   found->signature));
    }
    ids.push_back(found->id);
  }
  return ids;
}

HostAction JobHost::Stop(Outcome outcome, std::string message) {
  stop_outcome_ = outcome;
  stop_message_ = std::move(message);
  return HostAction::kTrap;
}

HostAction JobHost::Call(HostFuncId id, const uint64_t* a, uint64_t* result, GuestMemory m) {
  auto u32 = [a](int i) { return static_cast<uint32_t>(a[i]); };
  uint32_t err = kSuccess;
  switch (id) {
    case HostFuncId::kArgsGet:
      err = WriteStringList(m, Argv(input_), u32(0), u32(1));
      break;
    case HostFuncId::kArgsSizesGet:
      err = WriteListSizes(m, Argv(input_), u32(0), u32(1));
      break;
    case HostFuncId::kEnvironGet:
      err = WriteStringList(m, Environ(input_), u32(0), u32(1));
      break;
    case HostFuncId::kEnvironSizesGet:
      err = WriteListSizes(m, Environ(input_), u32(0), u32(1));
      break;
    case HostFuncId::kClockResGet:
      err = ClockResGet(m, u32(0), u32(1));
      break;
    case HostFuncId::kClockTimeGet:
      err = ClockTimeGet(m, u32(0), u32(2));
      break;
    case HostFuncId::kFdClose:
      if (u32(0) >= kFirstFsFd) return FsCall(id, a, result, m);
      if (u32(0) == 0) stdin_closed_ = true;
      err = u32(0) <= 2 ? kSuccess : kEbadf;
      break;
    case HostFuncId::kFdFdstatGet:
      if (u32(0) >= kFirstFsFd) return FsCall(id, a, result, m);
      err = FdFdstatGet(m, u32(0), u32(1));
      break;
    case HostFuncId::kFdRead:
      if (u32(0) >= kFirstFsFd) return FsCall(id, a, result, m);
      err = FdRead(m, u32(0), u32(1), u32(2), u32(3));
      break;
    case HostFuncId::kFdSeek:
      if (u32(0) >= kFirstFsFd) return FsCall(id, a, result, m);
      err = kEspipe;
      break;
    case HostFuncId::kFdWrite:
      if (u32(0) >= kFirstFsFd) return FsCall(id, a, result, m);
      return FdWrite(m, a, result);
    case HostFuncId::kProcExit:
      exit_code_ = static_cast<int32_t>(u32(0));
      return HostAction::kExit;
    case HostFuncId::kRandomGet:
      err = RandomGet(m, u32(0), u32(1));
      break;
    case HostFuncId::kSchedYield:
      err = kSuccess;
      break;
    case HostFuncId::kMeshProgress:
    case HostFuncId::kMeshCheckpoint:
    case HostFuncId::kMeshEmitPartial:
      return MeshCall(id, m, a);
    case HostFuncId::kMeshRestore:
      return MeshRestore(m, a, result);
    case HostFuncId::kStubNosys:
      err = kEnosys;
      break;
    case HostFuncId::kStubNotcapable:
      err = kEnotcapable;
      break;
    default:  // the filesystem and poll_oneoff: job_host_fs.cc
      return FsCall(id, a, result, m);
  }
  *result = err;
  return HostAction::kContinue;
}

std::string StdinOf(const JobInput& input) {
  std::string all = input.stdin_bytes;
  for (const StdinPiece& p : input.stdin_pieces) all.append(p.bytes);
  return all;
}

StdinPiece StdinPiece::Owned(std::string cid, std::string bytes) {
  auto owned = std::make_shared<const std::string>(std::move(bytes));
  StdinPiece piece;
  piece.cid = std::move(cid);
  piece.bytes = *owned;
  piece.keep = std::move(owned);
  return piece;
}

uint32_t JobHost::FdRead(GuestMemory m, uint32_t fd, uint32_t iovs, uint32_t iovs_len,
                         uint32_t out) {
  if (fd != 0 || stdin_closed_) return kEbadf;
  const uint8_t* vec = GuestSpan(m, iovs, uint64_t{iovs_len} * 8);
  if (vec == nullptr) return kEfault;
  uint64_t total = 0;
  for (uint32_t i = 0; i < iovs_len; ++i) {
    const uint32_t buf = LoadU32(vec + 8 * i);
    const uint32_t len = LoadU32(vec + 8 * i + 4);
    uint8_t* dst = GuestSpan(m, buf, len);
    if (dst == nullptr) return kEfault;
    // Fill this buffer from as many pieces as it takes; a short count means end of stdin.
    uint64_t n = 0;
    while (n < len && stdin_piece_ <= input_.stdin_pieces.size()) {
      const std::string_view piece = stdin_piece_ == 0
                                         ? std::string_view(input_.stdin_bytes)
                                         : input_.stdin_pieces[stdin_piece_ - 1].bytes;
      const uint64_t take = std::min<uint64_t>(len - n, piece.size() - stdin_offset_);
      if (take > 0) std::memcpy(dst + n, piece.data() + stdin_offset_, take);
      n += take;
      stdin_offset_ += take;
      if (stdin_offset_ == piece.size()) {
        ++stdin_piece_;
        stdin_offset_ = 0;
      }
    }
    total += n;
    if (n < len) break;
  }
  return StoreU32(m, out, static_cast<uint32_t>(total)) ? kSuccess : kEfault;
}

HostAction JobHost::FdWrite(GuestMemory m, const uint64_t* a, uint64_t* result) {
  const auto fd = static_cast<uint32_t>(a[0]);
  const auto iovs = static_cast<uint32_t>(a[1]);
  const auto iovs_len = static_cast<uint32_t>(a[2]);
  const auto out = static_cast<uint32_t>(a[3]);
  *result = kSuccess;
  if (fd != 1 && fd != 2) {
    *result = kEbadf;
    return HostAction::kContinue;
  }
  const uint8_t* vec = GuestSpan(m, iovs, uint64_t{iovs_len} * 8);
  if (vec == nullptr) {
    *result = kEfault;
    return HostAction::kContinue;
  }
  std::string& sink = fd == 1 ? stdout_ : stderr_;
  uint64_t total = 0;
  for (uint32_t i = 0; i < iovs_len; ++i) {
    const uint32_t buf = LoadU32(vec + 8 * i);
    const uint32_t len = LoadU32(vec + 8 * i + 4);
    const uint8_t* src = GuestSpan(m, buf, len);
    if (src == nullptr) {
      *result = kEfault;
      return HostAction::kContinue;
    }
    if (fd == 1 && stdout_.size() + partials_.size() + len > limits_.max_output_bytes) {
      return Stop(Outcome::kOutputTooLarge,
                  mesh::StrCat("job output exceeded the limit of ", limits_.max_output_bytes,
                               " bytes; raise --max-output or write less"));
    }
    if (fd == 2 && stderr_.size() + len > limits_.max_stderr_bytes) {
      return Stop(Outcome::kStderrTooLarge,
                  mesh::StrCat("job wrote more than ", limits_.max_stderr_bytes,
                               " bytes to stderr; log less"));
    }
    sink.append(reinterpret_cast<const char*>(src), len);
    total += len;
  }
  if (!StoreU32(m, out, static_cast<uint32_t>(total))) *result = kEfault;
  return HostAction::kContinue;
}

uint32_t JobHost::FdFdstatGet(GuestMemory m, uint32_t fd, uint32_t out) {
  if (fd > 2) return kEbadf;
  uint8_t* p = GuestSpan(m, out, 24);
  if (p == nullptr) return kEfault;
  std::memset(p, 0, 24);
  // Not a character device: libc then buffers stdout fully instead of by line.
  p[0] = kFiletypeUnknown;
  const uint64_t rights = fd == 0 ? kRightFdRead : kRightFdWrite;
  std::memcpy(p + 8, &rights, 8);
  return kSuccess;
}

uint32_t JobHost::ClockResGet(GuestMemory m, uint32_t clock_id, uint32_t out) {
  if (clock_id > 3) return kEinval;
  return StoreU64(m, out, 1) ? kSuccess : kEfault;
}

uint64_t JobHost::NowNs(uint32_t clock_id) const {
  if (input_.deterministic) {
    // 1 ns per unit of fuel: monotonic, identical on every node.
    return (clock_id == 0 ? kVirtualEpochNs : 0) + FuelNow();
  }
  timespec ts;
  clock_gettime(clock_id == 0 ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint32_t JobHost::ClockTimeGet(GuestMemory m, uint32_t clock_id, uint32_t out) {
  if (clock_id > 3) return kEinval;
  return StoreU64(m, out, NowNs(clock_id)) ? kSuccess : kEfault;
}

uint32_t JobHost::RandomGet(GuestMemory m, uint32_t buf, uint32_t len) {
  uint8_t* dst = GuestSpan(m, buf, len);
  if (dst == nullptr) return kEfault;
  if (!input_.deterministic) {
    randombytes_buf(dst, len);
    return kSuccess;
  }
  // ChaCha20 keystream at the current offset: the concatenation of all random_get calls is
  // one stream, whatever the call sizes.
  static constexpr uint8_t kNonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {'m', 'e', 's', 'h'};
  const uint64_t first_block = random_offset_ / 64;
  const size_t skip = random_offset_ % 64;
  std::string block((skip + len + 63) / 64 * 64, '\0');
  crypto_stream_chacha20_ietf_xor_ic(reinterpret_cast<unsigned char*>(block.data()),
                                     reinterpret_cast<const unsigned char*>(block.data()),
                                     block.size(), kNonce, static_cast<uint32_t>(first_block),
                                     input_.seed.data());
  std::memcpy(dst, block.data() + skip, len);
  random_offset_ += len;
  return kSuccess;
}

HostAction JobHost::MeshCall(HostFuncId id, GuestMemory m, const uint64_t* a) {
  const auto ptr = static_cast<uint32_t>(a[id == HostFuncId::kMeshProgress ? 1 : 0]);
  const auto len = static_cast<uint32_t>(a[id == HostFuncId::kMeshProgress ? 2 : 1]);
  const uint8_t* p = GuestSpan(m, ptr, len);
  if (p == nullptr) {
    return Stop(Outcome::kTrap,
                mesh::StrCat("mesh host call with out-of-bounds buffer [", ptr, ", +", len, ")"));
  }
  const std::string_view bytes(reinterpret_cast<const char*>(p), len);
  const uint64_t fuel = FuelNow();
  switch (id) {
    case HostFuncId::kMeshProgress: {
      ProgressRecord record{static_cast<uint32_t>(std::min<uint64_t>(a[0] & 0xffffffff, 100)),
                            std::string(bytes.substr(0, kMaxProgressMessageBytes)), fuel};
      // The callback sees every call; the report keeps the first kMaxProgressRecords.
      if (input_.on_progress) input_.on_progress(record);
      if (progress_.size() < kMaxProgressRecords) progress_.push_back(std::move(record));
      break;
    }
    case HostFuncId::kMeshCheckpoint:
      if (len > limits_.max_output_bytes) {
        return Stop(Outcome::kOutputTooLarge,
                    mesh::StrCat("checkpoint of ", len, " bytes exceeds the output limit of ",
                                 limits_.max_output_bytes, " bytes"));
      }
      checkpoint_.assign(bytes);
      if (input_.on_checkpoint) input_.on_checkpoint(bytes, fuel);
      checkpoints_.push_back(
          {len, HexEncode(crypto::DigestToString(crypto::Sha256Of(bytes))), fuel});
      break;
    case HostFuncId::kMeshEmitPartial:
      if (stdout_.size() + partials_.size() + len > limits_.max_output_bytes) {
        return Stop(Outcome::kOutputTooLarge,
                    mesh::StrCat("job output (with partial outputs) exceeded the limit of ",
                                 limits_.max_output_bytes, " bytes"));
      }
      partial_records_.push_back({partials_.size(), len, fuel});
      if (input_.on_partial) input_.on_partial(bytes, fuel);
      partials_.append(bytes);
      break;
    default:
      break;
  }
  return HostAction::kContinue;
}

HostAction JobHost::MeshRestore(GuestMemory m, const uint64_t* a, uint64_t* result) {
  // i32 restore(ptr, cap): -1 when the run resumes from no checkpoint; otherwise the
  // checkpoint's length, with its first min(length, cap) bytes copied to [ptr, ptr + cap).
  if (!input_.resume_checkpoint.has_value()) {
    *result = static_cast<uint32_t>(-1);
    return HostAction::kContinue;
  }
  const std::string& bytes = *input_.resume_checkpoint;
  const auto ptr = static_cast<uint32_t>(a[0]);
  const auto cap = static_cast<uint32_t>(a[1]);
  const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(bytes.size(), cap));
  uint8_t* p = n == 0 ? nullptr : GuestSpan(m, ptr, n);
  if (n > 0 && p == nullptr) {
    return Stop(Outcome::kTrap,
                mesh::StrCat("mesh.restore into an out-of-bounds buffer [", ptr, ", +", n, ")"));
  }
  if (n > 0) std::memcpy(p, bytes.data(), n);
  *result = static_cast<uint32_t>(bytes.size());
  return HostAction::kContinue;
}

void JobHost::FillReport(RunReport& report) {
  report.progress = std::move(progress_);
  report.checkpoints = std::move(checkpoints_);
  report.partials = std::move(partial_records_);
  report.stderr_tail = stderr_;
  if (fs_) {
    report.fs_bytes_written = fs_->bytes_written();
    report.fs_files_created = fs_->files_created();
    report.fs_bytes_refusals = fs_->bytes_refusals();
    report.fs_files_refusals = fs_->files_refusals();
  }
}

std::vector<OutputFile> JobHost::OutputFiles() const {
  return fs_ ? fs_->CollectOutput() : std::vector<OutputFile>{};
}

}  // namespace mesh::wasm
