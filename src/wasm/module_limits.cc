#include "mesh/wasm/module_limits.h"

#include <cstddef>
#include <string>

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::wasm {
namespace {

// Section ids (WebAssembly core spec 5.5.2).
enum Section : uint8_t {
  kCustom = 0,
  kType = 1,
  kImport = 2,
  kFunction = 3,
  kTable = 4,
  kMemory = 5,
  kGlobal = 6,
  kExport = 7,
  kStart = 8,
  kElement = 9,
  kCode = 10,
  kData = 11,
  kDataCount = 12,
};

// A bounds-checked cursor over [pos, end) of the module; every read fails cleanly at the end.
class Cursor {
 public:
  Cursor(std::string_view bytes, size_t pos, size_t end) : bytes_(bytes), pos_(pos), end_(end) {}

  size_t pos() const { return pos_; }
  size_t end() const { return end_; }
  size_t left() const { return end_ - pos_; }
  bool done() const { return pos_ >= end_; }

  absl::Status Truncated() const {
    return absl::InvalidArgumentError(
        mesh::StrCat("invalid module: unexpected end of data at byte offset ", pos_));
  }

  absl::StatusOr<uint8_t> Byte() {
    if (pos_ >= end_) return Truncated();
    return static_cast<uint8_t>(bytes_[pos_++]);
  }

  absl::Status Skip(uint64_t n) {
    if (n > left()) return Truncated();
    pos_ += n;
    return absl::OkStatus();
  }

  // Unsigned LEB128 of at most `bits` bits (32 or 64).
  absl::StatusOr<uint64_t> U(int bits = 32) {
    uint64_t value = 0;
    const int max_bytes = (bits + 6) / 7;
    for (int i = 0; i < max_bytes; ++i) {
      MESH_ASSIGN_OR_RETURN(uint8_t b, Byte());
      value |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) return value;
    }
    return absl::InvalidArgumentError(
        mesh::StrCat("invalid module: LEB128 number too long at byte offset ", pos_));
  }

  // Signed LEB128: only its length matters here.
  absl::Status S(int bits) {
    const int max_bytes = (bits + 6) / 7;
    for (int i = 0; i < max_bytes; ++i) {
      MESH_ASSIGN_OR_RETURN(uint8_t b, Byte());
      if ((b & 0x80) == 0) return absl::OkStatus();
    }
    return absl::InvalidArgumentError(
        mesh::StrCat("invalid module: LEB128 number too long at byte offset ", pos_));
  }

  // A vector's element count, which cannot exceed the bytes left (each element takes >= 1).
  absl::StatusOr<uint64_t> Count() {
    const size_t at = pos_;
    MESH_ASSIGN_OR_RETURN(uint64_t n, U());
    if (n > left()) {
      return absl::InvalidArgumentError(mesh::StrCat(
          "invalid module: count ", n, " at byte offset ", at, " exceeds the bytes that follow"));
    }
    return n;
  }

  // A cursor over the next `n` bytes, which this one skips.
  absl::StatusOr<Cursor> Sub(uint64_t n) {
    if (n > left()) return Truncated();
    Cursor sub(bytes_, pos_, pos_ + n);
    pos_ += n;
    return sub;
  }

  absl::Status Name() {
    MESH_ASSIGN_OR_RETURN(uint64_t len, U());
    return Skip(len);
  }

  // Table/memory limits: flags, min, optional max. Returns min; `max` = UINT64_MAX when absent.
  absl::StatusOr<uint64_t> Limits(uint64_t* max) {
    MESH_ASSIGN_OR_RETURN(uint8_t flags, Byte());
    MESH_ASSIGN_OR_RETURN(uint64_t min, U());
    *max = UINT64_MAX;
    if (flags & 1) {
      MESH_ASSIGN_OR_RETURN(*max, U());
    }
    return min;
  }

 private:
  std::string_view bytes_;
  size_t pos_;
  size_t end_;
};

// "<what> <n> <unit>; the limit is <limit>; <fix>".
absl::Status Over(std::string_view what, uint64_t n, std::string_view unit, uint64_t limit,
                  std::string_view fix) {
  return absl::InvalidArgumentError(mesh::StrCat(what, " ", n, " ", unit, "; the limit is ", limit,
                                                 fix.empty() ? "" : "; ", fix));
}

absl::Status CheckCount(std::string_view noun, uint64_t n, uint64_t limit) {
  if (n <= limit) return absl::OkStatus();
  return absl::InvalidArgumentError(
      mesh::StrCat("module declares ", n, " ", noun, "; the limit is ", limit));
}

// Skips a block type: 0x40, a one-byte value type, or a type index as a signed 33-bit LEB.
absl::Status SkipBlockType(Cursor& c) {
  MESH_ASSIGN_OR_RETURN(uint8_t b, c.Byte());
  if (b == 0x40 || (b >= 0x6f && b <= 0x7f)) return absl::OkStatus();
  if ((b & 0x80) == 0) return absl::OkStatus();  // a one-byte non-negative index
  return c.S(33 - 7);
}

// Scans one function's instructions (after its locals), keeping only the nesting depth.
absl::Status ScanCode(Cursor& c, uint64_t func_index, const ModuleLimits& limits) {
  uint64_t depth = 0;  // open blocks inside the function's own implicit block
  while (true) {
    const size_t at = c.pos();
    MESH_ASSIGN_OR_RETURN(uint8_t op, c.Byte());
    switch (op) {
      case 0x02:  // block
      case 0x03:  // loop
      case 0x04:  // if
        if (++depth > limits.max_nesting_depth) {
          return absl::InvalidArgumentError(mesh::StrCat(
              "function #", func_index, " nests blocks more than ", limits.max_nesting_depth,
              " deep (at byte offset ", at, "); the limit is ", limits.max_nesting_depth,
              "; flatten the control flow"));
        }
        MESH_RETURN_IF_ERROR(SkipBlockType(c));
        break;
      case 0x0b:  // end
        if (depth == 0) return absl::OkStatus();
        --depth;
        break;
      case 0x00:  // unreachable
      case 0x01:  // nop
      case 0x05:  // else
      case 0x0f:  // return
      case 0x1a:  // drop
      case 0x1b:  // select
      case 0xd1:  // ref.is_null
        break;
      case 0x0c:  // br
      case 0x0d:  // br_if
      case 0x10:  // call
      case 0x20:  // local.get
      case 0x21:  // local.set
      case 0x22:  // local.tee
      case 0x23:  // global.get
      case 0x24:  // global.set
      case 0x25:  // table.get
      case 0x26:  // table.set
      case 0x3f:  // memory.size
      case 0x40:  // memory.grow
      case 0xd2:  // ref.func
        MESH_RETURN_IF_ERROR(c.U().status());
        break;
      case 0x0e: {  // br_table
        MESH_ASSIGN_OR_RETURN(uint64_t n, c.Count());
        for (uint64_t i = 0; i <= n; ++i) MESH_RETURN_IF_ERROR(c.U().status());
        break;
      }
      case 0x11:  // call_indirect: type index, table index
        MESH_RETURN_IF_ERROR(c.U().status());
        MESH_RETURN_IF_ERROR(c.U().status());
        break;
      case 0x1c: {  // select t*
        MESH_ASSIGN_OR_RETURN(uint64_t n, c.Count());
        MESH_RETURN_IF_ERROR(c.Skip(n));
        break;
      }
      case 0x41:  // i32.const
        MESH_RETURN_IF_ERROR(c.S(32));
        break;
      case 0x42:  // i64.const
        MESH_RETURN_IF_ERROR(c.S(64));
        break;
      case 0x43:  // f32.const
        MESH_RETURN_IF_ERROR(c.Skip(4));
        break;
      case 0x44:  // f64.const
        MESH_RETURN_IF_ERROR(c.Skip(8));
        break;
      case 0xd0:  // ref.null t
        MESH_RETURN_IF_ERROR(c.Byte().status());
        break;
      case 0xfc: {  // saturating truncation, bulk memory and table instructions
        MESH_ASSIGN_OR_RETURN(uint64_t sub, c.U());
        if (sub <= 7) break;  // trunc_sat: no immediates
        if (sub > 17) {
          return absl::InvalidArgumentError(mesh::StrCat(
              "invalid module: unsupported instruction 0xfc ", sub, " at byte offset ", at));
        }
        // memory.init, table.init, memory.copy, table.copy take two; the rest one.
        const int immediates = (sub == 8 || sub == 10 || sub == 12 || sub == 14) ? 2 : 1;
        for (int i = 0; i < immediates; ++i) MESH_RETURN_IF_ERROR(c.U().status());
        break;
      }
      default:
        if (op >= 0x28 && op <= 0x3e) {  // loads and stores: align, offset
          MESH_RETURN_IF_ERROR(c.U().status());
          MESH_RETURN_IF_ERROR(c.U().status());
        } else if (op >= 0x45 && op <= 0xc4) {  // numeric and sign extension: no immediates
        } else {
          // SIMD, threads, exceptions, tail calls or garbage: none of them runs on Mesh, and a
          // scan that skipped an opcode it cannot size would lose track of the nesting.
          return absl::InvalidArgumentError(mesh::StrCat("invalid module: unsupported opcode ",
                                                         static_cast<int>(op), " in function #",
                                                         func_index, " at byte offset ", at));
        }
    }
  }
}

absl::Status ScanCodeSection(Cursor& c, uint64_t first_func, const ModuleLimits& limits) {
  MESH_ASSIGN_OR_RETURN(uint64_t count, c.Count());
  MESH_RETURN_IF_ERROR(CheckCount("function bodies", count, limits.max_functions));
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t index = first_func + i;
    MESH_ASSIGN_OR_RETURN(uint64_t size, c.U());
    if (size > limits.max_function_body_bytes) {
      return Over(mesh::StrCat("function #", index, " has a body of"), size, "bytes",
                  limits.max_function_body_bytes, "split the function");
    }
    MESH_ASSIGN_OR_RETURN(Cursor body, c.Sub(size));
    MESH_ASSIGN_OR_RETURN(uint64_t groups, body.Count());
    uint64_t locals = 0;
    for (uint64_t g = 0; g < groups; ++g) {
      MESH_ASSIGN_OR_RETURN(uint64_t n, body.U());
      MESH_RETURN_IF_ERROR(body.Byte().status());
      locals += n;  // at most 2^32 per group and groups < 2^32: no overflow in 64 bits
      if (locals > limits.max_locals) {
        return absl::InvalidArgumentError(mesh::StrCat("function #", index, " declares more than ",
                                                       limits.max_locals, " locals; the limit is ",
                                                       limits.max_locals));
      }
    }
    MESH_RETURN_IF_ERROR(ScanCode(body, index, limits));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckModuleLimits(std::string_view wasm, const ModuleLimits& limits) {
  if (wasm.size() > limits.max_module_bytes) {
    return absl::InvalidArgumentError(mesh::StrCat("module is ", wasm.size(),
                                                   " bytes; the limit is ", limits.max_module_bytes,
                                                   " bytes (the node's max_module_bytes)"));
  }
  if (wasm.size() < 8) {
    return absl::InvalidArgumentError(mesh::StrCat(
        "invalid module: ", wasm.size(), " bytes is shorter than the 8-byte WASM header"));
  }
  if (wasm.substr(0, 4) != std::string_view("\0asm", 4)) {
    return absl::InvalidArgumentError(
        "invalid module at byte offset 0: bad magic number (not a WASM binary)");
  }
  Cursor c(wasm, 8, wasm.size());
  uint64_t imported_funcs = 0, imported_globals = 0, imported_tables = 0;
  while (!c.done()) {
    MESH_ASSIGN_OR_RETURN(uint8_t id, c.Byte());
    MESH_ASSIGN_OR_RETURN(uint64_t size, c.U());
    MESH_ASSIGN_OR_RETURN(Cursor s, c.Sub(size));
    switch (id) {
      case kType: {
        MESH_ASSIGN_OR_RETURN(uint64_t n, s.Count());
        MESH_RETURN_IF_ERROR(CheckCount("types", n, limits.max_types));
        for (uint64_t i = 0; i < n; ++i) {
          MESH_RETURN_IF_ERROR(s.Byte().status());  // 0x60
          MESH_ASSIGN_OR_RETURN(uint64_t params, s.Count());
          if (params > limits.max_function_params) {
            return Over(mesh::StrCat("type #", i, " has"), params, "parameters",
                        limits.max_function_params, "");
          }
          MESH_RETURN_IF_ERROR(s.Skip(params));
          MESH_ASSIGN_OR_RETURN(uint64_t results, s.Count());
          if (results > limits.max_function_results) {
            return Over(mesh::StrCat("type #", i, " has"), results, "results",
                        limits.max_function_results, "");
          }
          MESH_RETURN_IF_ERROR(s.Skip(results));
        }
        break;
      }
      case kImport: {
        MESH_ASSIGN_OR_RETURN(uint64_t n, s.Count());
        MESH_RETURN_IF_ERROR(CheckCount("imports", n, limits.max_imports));
        for (uint64_t i = 0; i < n; ++i) {
          MESH_RETURN_IF_ERROR(s.Name());
          MESH_RETURN_IF_ERROR(s.Name());
          MESH_ASSIGN_OR_RETURN(uint8_t kind, s.Byte());
          uint64_t max = 0;
          switch (kind) {
            case 0:
              ++imported_funcs;
              MESH_RETURN_IF_ERROR(s.U().status());
              break;
            case 1:
              ++imported_tables;
              MESH_RETURN_IF_ERROR(s.Byte().status());
              MESH_RETURN_IF_ERROR(s.Limits(&max).status());
              break;
            case 2:
              MESH_RETURN_IF_ERROR(s.Limits(&max).status());
              break;
            case 3:
              ++imported_globals;
              MESH_RETURN_IF_ERROR(s.Skip(2));
              break;
            default:
              return absl::InvalidArgumentError(mesh::StrCat(
                  "invalid module: import #", i, " has unknown kind ", static_cast<int>(kind)));
          }
        }
        break;
      }
      case kFunction: {
        MESH_ASSIGN_OR_RETURN(uint64_t n, s.Count());
        MESH_RETURN_IF_ERROR(CheckCount("functions", imported_funcs + n, limits.max_functions));
        break;
      }
      case kTable: {
        MESH_ASSIGN_OR_RETURN(uint64_t n, s.Count());
        MESH_RETURN_IF_ERROR(CheckCount("tables", imported_tables + n, limits.max_tables));
        for (uint64_t i = 0; i < n; ++i) {
          MESH_RETURN_IF_ERROR(s.Byte().status());  // element type
          uint64_t max = 0;
          MESH_ASSIGN_OR_RETURN(uint64_t min, s.Limits(&max));
          if (min > limits.max_table_entries) {
            return absl::InvalidArgumentError(
                mesh::StrCat("table #", imported_tables + i, " declares ", min,
                             " initial entries; the limit is ", limits.max_table_entries));
          }
        }
        break;
      }
      case kGlobal: {
        MESH_ASSIGN_OR_RETURN(uint64_t n, s.Count());
        MESH_RETURN_IF_ERROR(CheckCount("globals", imported_globals + n, limits.max_globals));
        break;
      }
      case kExport: {
        MESH_ASSIGN_OR_RETURN(uint64_t n, s.Count());
        MESH_RETURN_IF_ERROR(CheckCount("exports", n, limits.max_exports));
        break;
      }
      case kElement: {
        MESH_ASSIGN_OR_RETURN(uint64_t n, s.Count());
        MESH_RETURN_IF_ERROR(CheckCount("element segments", n, limits.max_element_segments));
        break;
      }
      case kData: {
        MESH_ASSIGN_OR_RETURN(uint64_t n, s.Count());
        MESH_RETURN_IF_ERROR(CheckCount("data segments", n, limits.max_data_segments));
        break;
      }
      case kDataCount: {
        MESH_ASSIGN_OR_RETURN(uint64_t n, s.U());
        MESH_RETURN_IF_ERROR(CheckCount("data segments", n, limits.max_data_segments));
        break;
      }
      case kCode:
        MESH_RETURN_IF_ERROR(ScanCodeSection(s, imported_funcs, limits));
        break;
      default:
        // Custom, memory and start sections are bounded by the module size, and WABT checks
        // their contents; it also refuses unknown section ids, at the section's offset.
        break;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<TableEntries> ScanTableEntries(std::string_view wasm) {
  if (wasm.size() < 8) return absl::InvalidArgumentError("invalid module: no WASM header");
  Cursor c(wasm, 8, wasm.size());
  TableEntries out;
  while (!c.done()) {
    MESH_ASSIGN_OR_RETURN(uint8_t id, c.Byte());
    MESH_ASSIGN_OR_RETURN(uint64_t size, c.U());
    MESH_ASSIGN_OR_RETURN(Cursor s, c.Sub(size));
    if (id != kTable) continue;
    MESH_ASSIGN_OR_RETURN(uint64_t n, s.Count());
    for (uint64_t i = 0; i < n; ++i) {
      MESH_RETURN_IF_ERROR(s.Byte().status());
      uint64_t max = 0;
      MESH_ASSIGN_OR_RETURN(uint64_t min, s.Limits(&max));
      out.initial += min;
      out.max += max == UINT64_MAX ? min : max;
    }
  }
  return out;
}

}  // namespace mesh::wasm
