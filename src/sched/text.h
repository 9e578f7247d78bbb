// Formatting for the sentences sched writes into reasons, declines and summaries
// ("memory 256 MiB offered, 512 MiB required"). Internal to the sched module; pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/common/format_bytes.h"

namespace mesh::sched {

using ::mesh::FormatBytes;  // "512 B", "64 KiB", "1.5 GiB"
// Two decimals: "0.81".
std::string Fixed2(double value);
// "did:key:z6Mk…4xYz": enough to tell executors apart in one line of a log.
std::string ShortDid(std::string_view did);
// "a, b, c".
std::string Join(const std::vector<std::string>& items);
bool Contains(const std::vector<std::string>& items, std::string_view item);
// Whether the two lists share at least one entry.
bool Intersects(const std::vector<std::string>& a, const std::vector<std::string>& b);

}  // namespace mesh::sched
