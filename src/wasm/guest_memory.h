// Bounds-checked access to a job's linear memory for host calls (JobHost). WASM is
// little-endian, as is every host Mesh runs on, so values are copied as they are.
#pragma once

#include <cstdint>
#include <cstring>

#include "mesh/wasm/job_host.h"

namespace mesh::wasm {

// [ptr, ptr+len) inside memory, or nullptr.
inline uint8_t* GuestSpan(GuestMemory m, uint64_t ptr, uint64_t len) {
  if (ptr > m.size || len > m.size - ptr) return nullptr;
  return m.data + ptr;
}

template <typename T>
inline bool StoreGuest(GuestMemory m, uint64_t ptr, T v) {
  uint8_t* p = GuestSpan(m, ptr, sizeof(T));
  if (p == nullptr) return false;
  std::memcpy(p, &v, sizeof(T));
  return true;
}

inline bool StoreU32(GuestMemory m, uint32_t ptr, uint32_t v) { return StoreGuest(m, ptr, v); }
inline bool StoreU64(GuestMemory m, uint32_t ptr, uint64_t v) { return StoreGuest(m, ptr, v); }

template <typename T>
inline T LoadGuest(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

inline uint32_t LoadU32(const uint8_t* p) { return LoadGuest<uint32_t>(p); }

}  // namespace mesh::wasm
