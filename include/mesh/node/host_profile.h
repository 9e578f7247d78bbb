// HostProfile: what a node knows of its hardware, for people (`mesh node profile`, GET
// /v1/node) and for the market (capabilities derived from it, and the speed score its bids
// estimate finish times with).
//
// Collecting has two halves. The parsers are pure functions of text or of an hwloc topology, so
// tests give them fixed inputs (a /proc/cpuinfo, an hwloc XML export); CollectHostProfile reads
// the real machine through them. The speed score (fuel per second of the node's engine on a
// fixed calibration kernel) is measured by the node (calibration.h), not here.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace mesh::node {

struct GpuInfo {
  std::string vendor;         // "NVIDIA", "AMD", "Intel", or the PCI vendor id ("0x1234")
  std::string model;          // the PCI device name when known, else its id ("0x1111")
  std::string pci_address;    // "0000:00:02.0"
  uint64_t memory_bytes = 0;  // 0 = unknown (sysfs tells it for amdgpu only)
  // A compute GPU (NVIDIA, AMD or Intel graphics); false for display-only adapters such as a
  // server's BMC VGA (ASPEED, Matrox) or a VM's emulated one (QEMU, Cirrus, VMware, virtio).
  bool compute = false;
  bool operator==(const GpuInfo&) const = default;
};

struct HostProfile {
  std::string cpu_model;  // "AMD EPYC 7B13", "unknown" when the CPU does not say
  uint32_t packages = 0;
  uint32_t cores = 0;                                  // physical cores
  uint32_t threads = 0;                                // hardware threads (processing units)
  uint64_t l1d_bytes = 0, l2_bytes = 0, l3_bytes = 0;  // per cache instance, the largest seen
  std::vector<std::string> isa;                        // kIsaFeatures this CPU has, in that order
  uint64_t memory_total_bytes = 0;
  uint64_t memory_free_bytes = 0;  // available to new work (MemAvailable)
  uint64_t disk_free_bytes = 0;    // under the data dir
  std::vector<GpuInfo> gpus;       // empty: none found
  std::string os;                  // PRETTY_NAME of os-release
  std::string kernel;              // uname release
  std::string arch;                // uname machine
  // The speed score: fuel per second of this node's engine on the calibration kernel; 0 until
  // measured. `speed_engine` names the engine, `speed_source` says "measured" or "cached".
  uint64_t fuel_per_second = 0;
  std::string speed_engine, speed_source;
  bool operator==(const HostProfile&) const = default;
};

// ISA features reported, with their /proc/cpuinfo spellings: x86 "flags" (sse4_2, avx2,
// avx512f, ...) and Arm "Features" (asimd is reported as neon, sve).
inline constexpr std::string_view kIsaFeatures[] = {"sse4_2", "avx", "avx2", "fma", "avx512f",
                                                    "aes",    "sha", "neon", "sve"};

// The CPU model and ISA features of a /proc/cpuinfo text (the first processor's block).
struct CpuInfo {
  std::string model;
  std::vector<std::string> isa;
};
CpuInfo ParseCpuInfo(std::string_view text);

// MemTotal and MemAvailable of a /proc/meminfo text, in bytes (0 when absent).
struct MemInfo {
  uint64_t total = 0, available = 0;
};
MemInfo ParseMemInfo(std::string_view text);

// PRETTY_NAME of an os-release text, unquoted; NAME when there is none; "" when neither.
std::string ParseOsRelease(std::string_view text);

// Packages, cores, threads, cache sizes and GPUs (PCI display controllers) of an hwloc XML
// export (`lstopo --of xml`, or hwloc_topology_export_xmlbuffer). InvalidArgument when hwloc
// cannot read it. `xml` is untrusted: at most kMaxTopologyXmlBytes.
inline constexpr size_t kMaxTopologyXmlBytes = 8 << 20;
absl::StatusOr<HostProfile> TopologyFromXml(std::string_view xml);

// The capabilities a profile gives a node to advertise: each ISA feature ("avx2", "neon"), and
// "gpu" plus "gpu:<vendor>" (lower case) when it has a compute GPU.
std::vector<std::string> DerivedCapabilities(const HostProfile& profile);

// The real machine: hwloc's topology (with PCI devices), /proc/cpuinfo, /proc/meminfo,
// /etc/os-release, uname and statvfs under `data_dir`. What cannot be read stays empty or 0;
// it never fails.
HostProfile CollectHostProfile(const std::filesystem::path& data_dir);

nlohmann::json ToJson(const HostProfile& profile);
// The profile in ToJson's form (what GET /v1/node/profile sends); absent or mistyped fields
// stay empty or 0.
HostProfile HostProfileFromJson(const nlohmann::json& json);
// The readable form `mesh node profile` prints.
std::string FormatProfile(const HostProfile& profile);

}  // namespace mesh::node
