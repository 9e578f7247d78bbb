// Private helpers of the worker protocol: a little-endian writer that appends fixed-width
// integers and length-prefixed byte strings to a frame, and a bounds-checked reader that
// records the first field it could not read (so a malformed message names the field).
// Not thread-safe; plain helpers over caller-owned buffers.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "mesh/common/strings.h"

namespace mesh::exec::internal {

class WireWriter {
 public:
  explicit WireWriter(std::string& out) : out_(out) {}

  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) { Fixed(v); }
  void U64(uint64_t v) { Fixed(v); }
  void I64(int64_t v) { Fixed(static_cast<uint64_t>(v)); }
  void Bytes(std::string_view v) {
    U32(static_cast<uint32_t>(v.size()));
    out_.append(v);
  }

 private:
  template <typename T>
  void Fixed(T v) {
    char buf[sizeof(T)];
    for (size_t i = 0; i < sizeof(T); ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    out_.append(buf, sizeof(T));
  }

  std::string& out_;
};

class WireReader {
 public:
  // `what` names the message in errors ("run request", "run result").
  WireReader(std::string_view data, std::string_view what) : data_(data), what_(what) {}

  bool U8(std::string_view field, uint8_t* v) { return Fixed(field, v); }
  bool U32(std::string_view field, uint32_t* v) { return Fixed(field, v); }
  bool U64(std::string_view field, uint64_t* v) { return Fixed(field, v); }
  bool I64(std::string_view field, int64_t* v) {
    uint64_t u;
    if (!Fixed(field, &u)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool Bytes(std::string_view field, std::string* v) {
    uint32_t size;
    if (!U32(field, &size)) return false;
    if (size > data_.size() - pos_) {
      return Fail(mesh::StrCat("field '", field, "' claims ", size, " bytes but only ",
                               data_.size() - pos_, " remain"));
    }
    v->assign(data_.data() + pos_, size);
    pos_ += size;
    return true;
  }
  // A count of list elements, each at least `min_element_bytes` long: refuses counts the
  // remaining bytes cannot hold, so a hostile count cannot make the reader reserve memory.
  bool Count(std::string_view field, size_t min_element_bytes, uint32_t* v) {
    if (!U32(field, v)) return false;
    if (static_cast<uint64_t>(*v) * min_element_bytes > data_.size() - pos_) {
      return Fail(mesh::StrCat("field '", field, "' claims ", *v, " elements but only ",
                               data_.size() - pos_, " bytes remain"));
    }
    return true;
  }
  bool Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }

  // OK when every read succeeded and no bytes are left over.
  absl::Status Finish() const {
    if (!error_.empty()) {
      return absl::InvalidArgumentError(mesh::StrCat("malformed ", what_, ": ", error_));
    }
    if (pos_ != data_.size()) {
      return absl::InvalidArgumentError(
          mesh::StrCat("malformed ", what_, ": ", data_.size() - pos_, " trailing bytes"));
    }
    return absl::OkStatus();
  }

 private:
  template <typename T>
  bool Fixed(std::string_view field, T* v) {
    if (!error_.empty()) return false;
    if (data_.size() - pos_ < sizeof(T)) {
      return Fail(mesh::StrCat("truncated at field '", field, "' (needs ", sizeof(T), " bytes, ",
                               data_.size() - pos_, " remain)"));
    }
    T out = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      out |= static_cast<T>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    }
    pos_ += sizeof(T);
    *v = out;
    return true;
  }

  std::string_view data_;
  std::string_view what_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace mesh::exec::internal
