#include "mesh/node/host_profile.h"

#include <hwloc.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "mesh/common/file_util.h"
#include "mesh/common/format_bytes.h"
#include "mesh/common/strings.h"

namespace mesh::node {
namespace {

// The text after "key<spaces>:" on a "key : value" line, if the line has that key.
bool ValueOf(std::string_view line, std::string_view key, std::string_view& value) {
  if (!absl::StartsWith(ToAbsl(line), ToAbsl(key))) return false;
  std::string_view rest = line.substr(key.size());
  const size_t colon = rest.find(':');
  if (colon == std::string_view::npos) return false;
  // Only blanks may stand between the key and the colon ("model" is not "model name").
  for (char c : rest.substr(0, colon)) {
    if (c != ' ' && c != '\t') return false;
  }
  value = ToStd(absl::StripAsciiWhitespace(ToAbsl(rest.substr(colon + 1))));
  return true;
}

struct TopologyCloser {
  void operator()(hwloc_topology* t) const { hwloc_topology_destroy(t); }
};
using Topology = std::unique_ptr<hwloc_topology, TopologyCloser>;

// An initialised topology that keeps PCI devices (GPUs among them), or nullptr.
Topology NewTopology() {
  hwloc_topology_t t = nullptr;
  if (hwloc_topology_init(&t) != 0) return nullptr;
  Topology topology(t);
  hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
  return topology;
}

std::string Hex4(unsigned value) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04x", value & 0xffff);
  return buf;
}

// The PCI vendors whose display controllers are compute GPUs.
bool ComputeVendor(unsigned vendor_id) {
  return vendor_id == 0x10de || vendor_id == 0x1002 || vendor_id == 0x8086;
}

std::string VendorName(unsigned vendor_id, const char* pci_vendor) {
  switch (vendor_id) {
    case 0x10de:
      return "NVIDIA";
    case 0x1002:
      return "AMD";
    case 0x8086:
      return "Intel";
    default:
      return pci_vendor != nullptr ? pci_vendor : Hex4(vendor_id);
  }
}

void ReadTopology(hwloc_topology_t t, HostProfile& p) {
  p.packages = static_cast<uint32_t>(std::max(0, hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PACKAGE)));
  p.cores = static_cast<uint32_t>(std::max(0, hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE)));
  p.threads = static_cast<uint32_t>(std::max(0, hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU)));
  auto largest = [&](hwloc_obj_type_t type) {
    uint64_t size = 0;
    for (hwloc_obj_t o = hwloc_get_next_obj_by_type(t, type, nullptr); o != nullptr;
         o = hwloc_get_next_obj_by_type(t, type, o)) {
      if (o->attr != nullptr && o->attr->cache.type != HWLOC_OBJ_CACHE_INSTRUCTION) {
        size = std::max<uint64_t>(size, o->attr->cache.size);
      }
    }
    return size;
  };
  p.l1d_bytes = largest(HWLOC_OBJ_L1CACHE);
  p.l2_bytes = largest(HWLOC_OBJ_L2CACHE);
  p.l3_bytes = largest(HWLOC_OBJ_L3CACHE);
  if (hwloc_obj_t package = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_PACKAGE, nullptr)) {
    if (const char* model = hwloc_obj_get_info_by_name(package, "CPUModel")) p.cpu_model = model;
  }
  for (hwloc_obj_t o = hwloc_get_next_pcidev(t, nullptr); o != nullptr;
       o = hwloc_get_next_pcidev(t, o)) {
    const auto& pci = o->attr->pcidev;
    if ((pci.class_id >> 8) != 0x03) continue;  // PCI class 03: display controllers
    GpuInfo gpu;
    gpu.vendor = VendorName(pci.vendor_id, hwloc_obj_get_info_by_name(o, "PCIVendor"));
    const char* device = hwloc_obj_get_info_by_name(o, "PCIDevice");
    gpu.model = device != nullptr ? device : Hex4(pci.device_id);
    char address[32];
    std::snprintf(address, sizeof address, "%04x:%02x:%02x.%01x", pci.domain, pci.bus, pci.dev,
                  pci.func);
    gpu.pci_address = address;
    gpu.compute = ComputeVendor(pci.vendor_id);
    p.gpus.push_back(std::move(gpu));
  }
}

std::string ReadSmallFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path, 1 << 20);
  return text.ok() ? *std::move(text) : std::string();
}

std::string Bytes(uint64_t n) { return n == 0 ? "unknown" : FormatBytes(n); }

}  // namespace

CpuInfo ParseCpuInfo(std::string_view text) {
  CpuInfo out;
  std::vector<std::string> flags;
  for (absl::string_view piece : absl::StrSplit(ToAbsl(text), '\n')) {
    const std::string_view line = ToStd(piece);
    if (ToStd(absl::StripAsciiWhitespace(ToAbsl(line))).empty()) {
      if (!out.model.empty() || !flags.empty()) break;  // the first processor's block is enough
      continue;
    }
    std::string_view value;
    if (out.model.empty() && (ValueOf(line, "model name", value) || ValueOf(line, "Model", value) ||
                              ValueOf(line, "cpu model", value))) {
      out.model = std::string(value);
    } else if (flags.empty() &&
               (ValueOf(line, "flags", value) || ValueOf(line, "Features", value))) {
      for (absl::string_view piece : absl::StrSplit(ToAbsl(value), ' ', absl::SkipEmpty())) {
        std::string_view f = ToStd(piece);
        // Arm spells NEON "asimd"; x86 spells the SHA extensions "sha_ni".
        if (f == "asimd") f = "neon";
        if (f == "sha_ni" || f == "sha2") f = "sha";
        flags.emplace_back(f);
      }
    }
  }
  for (std::string_view feature : kIsaFeatures) {
    if (std::find(flags.begin(), flags.end(), feature) != flags.end()) {
      out.isa.emplace_back(feature);
    }
  }
  return out;
}

MemInfo ParseMemInfo(std::string_view text) {
  MemInfo out;
  for (absl::string_view piece : absl::StrSplit(ToAbsl(text), '\n')) {
    const std::string_view line = ToStd(piece);
    std::string_view value;
    uint64_t* field = nullptr;
    if (ValueOf(line, "MemTotal", value)) field = &out.total;
    if (ValueOf(line, "MemAvailable", value)) field = &out.available;
    if (field == nullptr) continue;
    std::vector<absl::string_view> parts = absl::StrSplit(ToAbsl(value), ' ', absl::SkipEmpty());
    uint64_t n = 0;
    if (parts.empty() || !absl::SimpleAtoi(parts[0], &n)) continue;
    const bool kib = parts.size() > 1 && (parts[1] == "kB" || parts[1] == "KiB");
    *field = kib ? n * 1024 : n;
  }
  return out;
}

std::string ParseOsRelease(std::string_view text) {
  std::string pretty, name;
  for (absl::string_view piece : absl::StrSplit(ToAbsl(text), '\n')) {
    const std::string_view line = ToStd(piece);
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, eq);
    std::string_view value = ToStd(absl::StripAsciiWhitespace(ToAbsl(line.substr(eq + 1))));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    if (key == "PRETTY_NAME") pretty = std::string(value);
    if (key == "NAME") name = std::string(value);
  }
  return pretty.empty() ? name : pretty;
}

absl::StatusOr<HostProfile> TopologyFromXml(std::string_view xml) {
  if (xml.size() > kMaxTopologyXmlBytes) {
    return absl::InvalidArgumentError(
        mesh::StrCat("topology XML of ", xml.size(), " bytes exceeds ", kMaxTopologyXmlBytes));
  }
  Topology t = NewTopology();
  if (t == nullptr) return absl::InternalError("hwloc: cannot initialise a topology");
  const std::string buffer(xml);  // hwloc wants the terminating NUL counted
  if (hwloc_topology_set_xmlbuffer(t.get(), buffer.c_str(), static_cast<int>(buffer.size() + 1)) !=
          0 ||
      hwloc_topology_load(t.get()) != 0) {
    return absl::InvalidArgumentError("hwloc cannot read this topology XML");
  }
  HostProfile p;
  ReadTopology(t.get(), p);
  return p;
}

std::vector<std::string> DerivedCapabilities(const HostProfile& profile) {
  std::vector<std::string> out = profile.isa;
  const bool any = std::any_of(profile.gpus.begin(), profile.gpus.end(),
                               [](const GpuInfo& g) { return g.compute; });
  if (any) out.push_back("gpu");
  for (const GpuInfo& gpu : profile.gpus) {
    if (!gpu.compute) continue;
    std::string vendor = mesh::StrCat("gpu:", absl::AsciiStrToLower(ToAbsl(gpu.vendor)));
    if (std::find(out.begin(), out.end(), vendor) == out.end()) out.push_back(std::move(vendor));
  }
  return out;
}

HostProfile CollectHostProfile(const std::filesystem::path& data_dir) {
  HostProfile p;
  if (Topology t = NewTopology(); t != nullptr && hwloc_topology_load(t.get()) == 0) {
    ReadTopology(t.get(), p);
  }
  const CpuInfo cpu = ParseCpuInfo(ReadSmallFile("/proc/cpuinfo"));
  if (!cpu.model.empty()) p.cpu_model = cpu.model;
  if (p.cpu_model.empty()) p.cpu_model = "unknown";
  p.isa = cpu.isa;
  const MemInfo mem = ParseMemInfo(ReadSmallFile("/proc/meminfo"));
  p.memory_total_bytes = mem.total;
  p.memory_free_bytes = mem.available;
  struct statvfs st {};
  if (statvfs(data_dir.c_str(), &st) == 0) {
    p.disk_free_bytes = uint64_t(st.f_bavail) * uint64_t(st.f_frsize);
  }
  p.os = ParseOsRelease(ReadSmallFile("/etc/os-release"));
  struct utsname u {};
  if (uname(&u) == 0) {
    p.kernel = u.release;
    p.arch = u.machine;
  }
  // amdgpu tells its VRAM in sysfs; others are "unknown" (NVIDIA needs its own library).
  for (GpuInfo& gpu : p.gpus) {
    const std::string vram = ReadSmallFile(
        mesh::StrCat("/sys/bus/pci/devices/", gpu.pci_address, "/mem_info_vram_total"));
    uint64_t bytes = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(vram), &bytes)) gpu.memory_bytes = bytes;
  }
  return p;
}

nlohmann::json ToJson(const HostProfile& p) {
  nlohmann::json gpus = nlohmann::json::array();
  for (const GpuInfo& g : p.gpus) {
    gpus.push_back({{"vendor", g.vendor},
                    {"model", g.model},
                    {"pci_address", g.pci_address},
                    {"memory_bytes", g.memory_bytes},
                    {"compute", g.compute}});
  }
  return {
      {"cpu_model", p.cpu_model},
      {"packages", p.packages},
      {"cores", p.cores},
      {"threads", p.threads},
      {"caches", {{"l1d_bytes", p.l1d_bytes}, {"l2_bytes", p.l2_bytes}, {"l3_bytes", p.l3_bytes}}},
      {"isa", p.isa},
      {"memory_total_bytes", p.memory_total_bytes},
      {"memory_free_bytes", p.memory_free_bytes},
      {"disk_free_bytes", p.disk_free_bytes},
      {"gpus", std::move(gpus)},
      {"os", p.os},
      {"kernel", p.kernel},
      {"arch", p.arch},
      {"capabilities", DerivedCapabilities(p)},
      {"speed",
       {{"fuel_per_second", p.fuel_per_second},
        {"engine", p.speed_engine},
        {"source", p.speed_source.empty() ? "pending" : p.speed_source}}}};
}

HostProfile HostProfileFromJson(const nlohmann::json& j) {
  HostProfile p;
  if (!j.is_object()) return p;
  auto number = [](const nlohmann::json& o, const char* key) -> uint64_t {
    auto it = o.find(key);
    return it != o.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
  };
  auto text = [](const nlohmann::json& o, const char* key) -> std::string {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto object = [](const nlohmann::json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_object() ? *it : nlohmann::json::object();
  };
  p.cpu_model = text(j, "cpu_model");
  p.packages = static_cast<uint32_t>(number(j, "packages"));
  p.cores = static_cast<uint32_t>(number(j, "cores"));
  p.threads = static_cast<uint32_t>(number(j, "threads"));
  const nlohmann::json caches = object(j, "caches");
  p.l1d_bytes = number(caches, "l1d_bytes");
  p.l2_bytes = number(caches, "l2_bytes");
  p.l3_bytes = number(caches, "l3_bytes");
  if (auto it = j.find("isa"); it != j.end() && it->is_array()) {
    for (const nlohmann::json& f : *it) {
      if (f.is_string()) p.isa.push_back(f.get<std::string>());
    }
  }
  p.memory_total_bytes = number(j, "memory_total_bytes");
  p.memory_free_bytes = number(j, "memory_free_bytes");
  p.disk_free_bytes = number(j, "disk_free_bytes");
  if (auto it = j.find("gpus"); it != j.end() && it->is_array()) {
    for (const nlohmann::json& g : *it) {
      if (!g.is_object()) continue;
      auto compute = g.find("compute");
      p.gpus.push_back({text(g, "vendor"), text(g, "model"), text(g, "pci_address"),
                        number(g, "memory_bytes"),
                        compute != g.end() && compute->is_boolean() && compute->get<bool>()});
    }
  }
  p.os = text(j, "os");
  p.kernel = text(j, "kernel");
  p.arch = text(j, "arch");
  const nlohmann::json speed = object(j, "speed");
  p.fuel_per_second = number(speed, "fuel_per_second");
  p.speed_engine = text(speed, "engine");
  p.speed_source = text(speed, "source");
  if (p.speed_source == "pending") p.speed_source.clear();
  return p;
}

std::string FormatProfile(const HostProfile& p) {
  std::string gpus;
  for (const GpuInfo& g : p.gpus) {
    gpus += mesh::StrCat(gpus.empty() ? "" : "; ", g.vendor, " ", g.model, " (", g.pci_address,
                         g.memory_bytes > 0 ? mesh::StrCat(", ", FormatBytes(g.memory_bytes)) : "",
                         g.compute ? "" : ", display only", ")");
  }
  std::string speed = "not measured yet";
  if (p.fuel_per_second > 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3g", double(p.fuel_per_second) / 1e9);
    speed = mesh::StrCat(buf, " x 10^9 fuel/s (", p.speed_engine, ", ", p.speed_source, ")");
  }
  std::string isa;
  for (const std::string& f : p.isa) isa += mesh::StrCat(isa.empty() ? "" : " ", f);
  std::string caps;
  for (const std::string& c : DerivedCapabilities(p))
    caps += mesh::StrCat(caps.empty() ? "" : " ", c);
  return mesh::StrCat(
      "cpu:          ", p.cpu_model, "\n",  //
      "cores:        ", p.cores, " cores, ", p.threads, " threads, ", p.packages, " package",
      p.packages == 1 ? "" : "s", "\n",  //
      "caches:       L1d ", Bytes(p.l1d_bytes), ", L2 ", Bytes(p.l2_bytes), ", L3 ",
      Bytes(p.l3_bytes), "\n",                                        //
      "isa:          ", isa.empty() ? "none recognised" : isa, "\n",  //
      "memory:       ", Bytes(p.memory_total_bytes), " total, ", Bytes(p.memory_free_bytes),
      " available\n",                                               //
      "disk free:    ", Bytes(p.disk_free_bytes), " (data dir)\n",  //
      "gpus:         ", gpus.empty() ? "none" : gpus, "\n",         //
      "os:           ", p.os.empty() ? "unknown" : p.os, ", kernel ", p.kernel, " (", p.arch,
      ")\n",                          //
      "speed:        ", speed, "\n",  //
      "capabilities: ", caps.empty() ? "none" : caps, "\n");
}

}  // namespace mesh::node
