// Byte counts for people: "512 B", "64 KiB", "1.5 GiB" (powers of 1024; one decimal unless the
// count is a whole number of the unit). Used in sentences the market and the profiler write.
// Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace mesh {

std::string FormatBytes(uint64_t bytes);

}  // namespace mesh
