// store_bench: files stored across the mesh, end to end, against the CES pipeline alone.
// Seven in-process nodes on loopback (gRPC, mutual TLS): node A puts a file with code 4+2
// (FileStore::Put: seal, stage, six holders pull their shards) and gets it back
// (FileStore::Get: any 4 shards per segment, hedged, checked, decoded). Baselines measured in
// the same run on the same bytes: sealing alone into memory (no holders), and opening from
// shards already in memory. The ratio is what distribution costs. Then repair: one holder is
// stopped and its shards of every segment are rebuilt from the other holders onto the spare
// (an eighth node); the figure is the rebuilt shard bytes per second. Issue 19's goal: put and
// get at 300 MB/s or more. Plain binary; --short uses 256 MiB (8 segments: enough for a get to
// fetch one segment while it opens another), the full run 1 GiB.
// Usage: store_bench [--mib N] [--repeats N] [--short] [--json FILE]
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "bench_report.h"
#include "mesh/cas/byte_source.h"
#include "mesh/common/process_tuning.h"
#include "mesh/node/node.h"
#include "mesh/storage/store_file.h"
#include "spdlog/spdlog.h"

namespace {

using SteadyClock = std::chrono::steady_clock;
using mesh::node::Node;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "store_bench: %s\n", what.c_str());
  std::_Exit(1);
}

double SecondsSince(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

double CpuSeconds() {
  rusage usage = {};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  mesh::TuneProcess();
  mesh::bench::CommonArgs common;
  std::string error;
  if (!mesh::bench::TakeCommonArgs(&argc, argv, &common, &error)) Die(error);
  int mib = common.short_mode ? 256 : 1024;
  int repeats = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--mib" && i + 1 < argc) {
      mib = std::stoi(argv[++i]);
    } else if (arg == "--repeats" && i + 1 < argc) {
      repeats = std::stoi(argv[++i]);
    } else {
      Die("unknown argument " + arg + " (--mib N --repeats N --short --json FILE)");
    }
  }
  spdlog::set_level(spdlog::level::warn);
  const std::string data = mesh::SeededRng(42).Bytes(size_t(mib) << 20);
  const double mb = static_cast<double>(data.size()) / 1e6;
  char tmpl[] = "/tmp/store_bench_XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) Die("mkdtemp failed");
  const std::filesystem::path root = tmpl;
  std::printf("store_bench: %u cores, %d MiB of random bytes, code 4+2, 32 MiB segments\n",
              std::thread::hardware_concurrency(), mib);

  // Baselines: the pipeline alone, sealing into memory and opening from memory.
  mesh::SecureRng rng;
  const mesh::crypto::KeyPair owner = mesh::crypto::KeyPair::Generate();
  mesh::storage::StoreOptions options;  // 4+2, 32 MiB, encrypted
  std::vector<double> seal, open;
  for (int r = 0; r < repeats; ++r) {
    std::map<uint32_t, std::vector<std::optional<std::string>>> shards;
    auto t0 = SteadyClock::now();
    auto sealer = mesh::storage::FileSealer::Create(
        options, owner, rng, [&](uint32_t i, const mesh::storage::SealedSegment& s) {
          for (size_t k = 0; k < s.shard_count; ++k)
            shards[i].emplace_back(std::string(s.shard(k)));
          return absl::OkStatus();
        });
    if (!sealer.ok() || !(*sealer)->Write(data).ok()) Die("seal");
    auto sealed = (*sealer)->Finish();
    if (!sealed.ok()) Die("seal: " + std::string(sealed.status().message()));
    seal.push_back(mb / SecondsSince(t0));
    auto key = mesh::storage::OpenFileKey(sealed->manifest, owner);
    if (!key.ok()) Die("key");
    uint64_t got = 0;
    t0 = SteadyClock::now();
    absl::Status s = mesh::storage::OpenStoredFile(
        sealed->manifest, *key, [&](uint32_t i) { return shards.at(i); },
        [&](std::string_view b) {
          got += b.size();
          return absl::OkStatus();
        });
    if (!s.ok() || got != data.size()) Die("open: " + std::string(s.message()));
    open.push_back(mb / SecondsSince(t0));
  }

  // The mesh: A, six holders and a spare to repair onto.
  mesh::SystemClock clock;
  std::vector<std::unique_ptr<mesh::SecureRng>> rngs;
  std::vector<std::unique_ptr<Node>> nodes;
  for (int i = 0; i < 8; ++i) {
    mesh::node::NodeConfig c;
    c.data_dir = root / ("n" + std::to_string(i));
    c.listen_port = 0;
    c.max_concurrent = 1;
    c.worker_path = MESH_WORKER_PATH;
    c.mesh.listen = "127.0.0.1:0";
    c.mesh.active_view = 8;
    c.hold_quota_bytes = 4ull << 30;
    if (i > 0) c.mesh.peers = {nodes[0]->mesh()->address()};
    rngs.push_back(std::make_unique<mesh::SecureRng>());
    auto node = Node::Start(c, clock, *rngs.back());
    if (!node.ok()) Die("node start: " + std::string(node.status().message()));
    nodes.push_back(*std::move(node));
  }
  Node& a = *nodes[0];
  const auto formed = SteadyClock::now();
  while (true) {
    size_t heard = 0;
    for (const auto& c : a.mesh()->HolderCandidates()) heard += c.alive && c.free_bytes.has_value();
    if (heard == 7) break;
    if (SecondsSince(formed) > 30) Die("the mesh did not form within 30 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // CPU seconds of the whole process (all eight nodes) per put and get: on one machine holding
  // the owner and every holder, cores x bytes / CPU is the most the put or get could reach even
  // with both cores busy all the time.
  std::vector<double> put, get, put_cpu, get_cpu;
  for (int r = 0; r < repeats; ++r) {
    mesh::cas::StringSource source(data);
    auto t0 = SteadyClock::now();
    double cpu0 = CpuSeconds();
    auto file = a.files().Put(source, {});
    if (!file.ok()) Die("put: " + std::string(file.status().message()));
    put.push_back(mb / SecondsSince(t0));
    put_cpu.push_back(CpuSeconds() - cpu0);
    uint64_t got = 0;
    t0 = SteadyClock::now();
    cpu0 = CpuSeconds();
    auto stats = a.files().Get(file->cid, [&](std::string_view b) {
      got += b.size();
      return absl::OkStatus();
    });
    if (!stats.ok() || got != data.size()) Die("get: " + std::string(stats.status().message()));
    get.push_back(mb / SecondsSince(t0));
    get_cpu.push_back(CpuSeconds() - cpu0);
    auto removed = a.files().Remove(file->cid);
    if (!removed.ok()) Die("rm: " + std::string(removed.status().message()));
  }
  // Repair: the holder of shard 0 stops; its shard of every segment is rebuilt elsewhere.
  mesh::cas::StringSource source(data);
  auto file = a.files().Put(source, {});
  if (!file.ok()) Die("put: " + std::string(file.status().message()));
  const uint64_t lost_bytes = file->stored_bytes / file->holders.size();
  for (auto& n : nodes) {
    if (n->key().did().ToString() == file->holders[0].did) n->Drain(absl::ZeroDuration());
  }
  auto t0 = SteadyClock::now();
  auto repaired = a.files().Repair(*file, {0});
  const double repair_seconds = SecondsSince(t0);
  if (!repaired.ok() || repaired->repaired != std::vector<int>{0}) {
    Die("repair: " + (repaired.ok() ? std::to_string(repaired->failed.size()) + " failed"
                                    : std::string(repaired.status().message())));
  }
  const double repair_mbps = static_cast<double>(lost_bytes) / 1e6 / repair_seconds;
  const double cores = std::thread::hardware_concurrency();
  std::printf(
      "CPU of all nodes: put %.2f s, get %.2f s; the most %g cores could reach: put %.0f "
      "MB/s, get %.0f MB/s\n",
      Median(put_cpu), Median(get_cpu), cores, cores * mb / Median(put_cpu),
      cores * mb / Median(get_cpu));
  std::printf("repair: %.1f MiB of shards rebuilt in %.2f s\n",
              static_cast<double>(lost_bytes) / (1 << 20), repair_seconds);
  for (auto& n : nodes) n->Drain(absl::ZeroDuration());
  nodes.clear();
  std::error_code ec;
  std::filesystem::remove_all(root, ec);

  mesh::bench::Report report("store_bench");
  const std::string size = std::to_string(mib) + " MiB";
  report.Add({.figure = "mesh store put " + size + ", 4+2 on 6 peers (baseline: sealing alone)",
              .value = Median(put),
              .unit = "MB/s",
              .baseline = Median(seal),
              .ratio = mesh::bench::RatioOf(Median(put), Median(seal)),
              .goal = mesh::bench::Goal().ValueAtLeast(300)});
  report.Add({.figure = "mesh store get " + size + ", any 4 of 6 (baseline: opening local shards)",
              .value = Median(get),
              .unit = "MB/s",
              .baseline = Median(open),
              .ratio = mesh::bench::RatioOf(Median(get), Median(open)),
              .goal = mesh::bench::Goal().ValueAtLeast(300)});
  report.Add({.figure = "repair of one lost holder's shards of a " + size +
                        " file (baseline: opening local shards)",
              .value = repair_mbps,
              .unit = "MB/s",
              .baseline = Median(open),
              .ratio = mesh::bench::RatioOf(repair_mbps, Median(open))});
  report.Add({.figure = "put's ceiling on this machine: cores x bytes / CPU of all the nodes",
              .value = cores * mb / Median(put_cpu),
              .unit = "MB/s"});
  report.Add({.figure = "get's ceiling on this machine: cores x bytes / CPU of all the nodes",
              .value = cores * mb / Median(get_cpu),
              .unit = "MB/s"});
  std::printf("\n%s", report.Text().c_str());
  if (absl::Status s = report.Write(common.json); !s.ok()) Die(std::string(s.message()));
  return 0;
}
