#include "mesh/node/host_info.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

namespace mesh::node {

namespace {
constexpr uint64_t kFallbackMemoryBytes = uint64_t{1} << 30;
}  // namespace

HostInfo SystemHostProbe::Host() const {
  HostInfo info;
  // hardware_concurrency may return 0 when it cannot tell.
  info.cpu_cores = std::max(1u, std::thread::hardware_concurrency());
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  info.memory_bytes =
      pages > 0 && page_size > 0 ? uint64_t(pages) * uint64_t(page_size) : kFallbackMemoryBytes;
  return info;
}

uint64_t SystemHostProbe::FreeBytes(const std::filesystem::path& dir) const {
  struct statvfs st {};
  if (statvfs(dir.c_str(), &st) != 0) return 0;
  return uint64_t(st.f_bavail) * uint64_t(st.f_frsize);
}

}  // namespace mesh::node
