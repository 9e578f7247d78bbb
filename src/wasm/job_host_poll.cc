// JobHost: poll_oneoff. Nothing a job can wait on ever blocks (stdin, stdout, stderr and files
// are in memory), so a poll never sleeps: fd subscriptions are ready at once, and when there
// are none the earliest clock subscription is reported as due. In deterministic mode that is
// what keeps the run reproducible (the virtual clock only moves with fuel); in real-time mode
// Mesh does not sleep either: wall time is a limit of the job, not something to spend idle.
#include <algorithm>
#include <cstring>
#include <vector>

#include "guest_memory.h"
#include "mesh/wasm/job_host.h"
#include "mesh/wasm/wasi_fs.h"

namespace mesh::wasm {
namespace {

using wasi::Errno;

struct Event {
  uint64_t userdata = 0;
  uint8_t type = 0;
  uint64_t nbytes = 0;
  uint16_t flags = 0;
};

}  // namespace

uint64_t JobHost::StdinLeft() const {
  if (stdin_closed_) return 0;
  uint64_t left = 0;
  for (size_t i = stdin_piece_; i <= input_.stdin_pieces.size(); ++i) {
    const uint64_t size =
        i == 0 ? input_.stdin_bytes.size() : input_.stdin_pieces[i - 1].bytes.size();
    left += i == stdin_piece_ ? size - stdin_offset_ : size;
  }
  return left;
}

Errno JobHost::PollOneoff(GuestMemory m, const uint64_t* a, uint64_t& fuel) {
  const auto in = static_cast<uint32_t>(a[0]);
  const auto out = static_cast<uint32_t>(a[1]);
  const auto count = static_cast<uint32_t>(a[2]);
  const auto nevents_out = static_cast<uint32_t>(a[3]);
  // wasmtime: no subscriptions would sleep forever, which preview1 does not allow.
  if (count == 0) return Errno::kInval;
  const uint8_t* subs = GuestSpan(m, in, uint64_t{count} * wasi::kSubscriptionSize);
  uint8_t* events = GuestSpan(m, out, uint64_t{count} * wasi::kEventSize);
  if (subs == nullptr || events == nullptr || GuestSpan(m, nevents_out, 4) == nullptr) {
    return Errno::kFault;
  }
  fuel += kWasiCallFuel * count;
  std::vector<Event> ready;
  // Clocks: (time left until due, index).
  std::vector<std::pair<uint64_t, uint32_t>> clocks;
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* s = subs + uint64_t{i} * wasi::kSubscriptionSize;
    const auto userdata = LoadGuest<uint64_t>(s);
    const uint8_t tag = s[8];
    if (tag == wasi::kEventClock) {
      const auto clock_id = LoadGuest<uint32_t>(s + 16);
      const auto timeout = LoadGuest<uint64_t>(s + 24);
      const auto flags = LoadGuest<uint16_t>(s + 40);
      // wasmtime polls realtime and monotonic clocks only.
      if (clock_id > 1) return Errno::kInval;
      uint64_t left = timeout;
      if (flags & wasi::kSubclockAbstime) {
        const uint64_t now = NowNs(clock_id);
        left = timeout > now ? timeout - now : 0;
      }
      clocks.emplace_back(left, i);
    } else if (tag == wasi::kEventFdRead || tag == wasi::kEventFdWrite) {
      const auto fd = LoadGuest<uint32_t>(s + 16);
      Event e{userdata, tag, 0, 0};
      if (tag == wasi::kEventFdRead && fd == 0 && !stdin_closed_) {
        e.nbytes = StdinLeft();
      } else if (tag == wasi::kEventFdWrite && (fd == 1 || fd == 2)) {
        e.nbytes = 1;  // as wasmtime: writable
      } else if (fd >= kFirstFsFd && fs_ && fs_->IsFile(fd)) {
        if (tag == wasi::kEventFdRead) {
          e.nbytes = fs_->ReadableBytes(fd).value;
          if (e.nbytes == 0) e.flags = wasi::kEventFdReadwriteHangup;
        } else {
          e.nbytes = 1;
        }
      } else {
        return Errno::kBadf;  // as wasmtime: the whole call fails
      }
      ready.push_back(e);
    } else {
      return Errno::kInval;
    }
  }
  // Clocks already due come with the fd events; with no fd events, the earliest clock fires.
  if (!clocks.empty()) {
    const uint64_t earliest = std::min_element(clocks.begin(), clocks.end())->first;
    for (const auto& [left, index] : clocks) {
      if (left == 0 || (ready.empty() && left == earliest)) {
        const uint8_t* s = subs + uint64_t{index} * wasi::kSubscriptionSize;
        ready.push_back({LoadGuest<uint64_t>(s), wasi::kEventClock, 0, 0});
      }
    }
  }
  for (size_t i = 0; i < ready.size(); ++i) {
    uint8_t* e = events + i * wasi::kEventSize;
    std::memset(e, 0, wasi::kEventSize);
    std::memcpy(e, &ready[i].userdata, 8);
    e[10] = ready[i].type;
    std::memcpy(e + 16, &ready[i].nbytes, 8);
    std::memcpy(e + 24, &ready[i].flags, 2);
  }
  StoreU32(m, nevents_out, static_cast<uint32_t>(ready.size()));
  return Errno::kSuccess;
}

}  // namespace mesh::wasm
