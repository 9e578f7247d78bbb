// HostInfo and HostProbe: the facts about the machine a node offers to the market (cores, memory,
// free disk), read through an interface so tests and meshsim can give them instead of the host.
// SystemHostProbe reads the real machine; FixedHostProbe returns the values it was given. Both are
// immutable after construction and safe to call from any thread.
#pragma once

#include <cstdint>
#include <filesystem>

namespace mesh::node {

struct HostInfo {
  uint32_t cpu_cores = 1;
  uint64_t memory_bytes = 0;  // physical memory of the whole machine

  bool operator==(const HostInfo&) const = default;
};

class HostProbe {
 public:
  virtual ~HostProbe() = default;
  virtual HostInfo Host() const = 0;
  // Bytes an unprivileged user may still write on the file system holding `dir`; 0 if unknown.
  virtual uint64_t FreeBytes(const std::filesystem::path& dir) const = 0;
};

// sysconf(_SC_PHYS_PAGES), std::thread::hardware_concurrency and statvfs. If the memory size cannot
// be read it reports 1 GiB, and at least one core, so a node still offers something sane.
class SystemHostProbe final : public HostProbe {
 public:
  HostInfo Host() const override;
  uint64_t FreeBytes(const std::filesystem::path& dir) const override;
};

// The same answers every time, whatever the path: for tests and the simulator.
class FixedHostProbe final : public HostProbe {
 public:
  FixedHostProbe(HostInfo host, uint64_t free_bytes) : host_(host), free_bytes_(free_bytes) {}
  HostInfo Host() const override { return host_; }
  uint64_t FreeBytes(const std::filesystem::path&) const override { return free_bytes_; }

 private:
  const HostInfo host_;
  const uint64_t free_bytes_;
};

}  // namespace mesh::node
