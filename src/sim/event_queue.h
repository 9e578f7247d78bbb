// The simulator's queue of future events, ordered by (time, order of scheduling). Private to
// src/sim.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace mesh::sim {

// What the queue orders: the event itself waits elsewhere, at `slot`.
struct QueuedEvent {
  int64_t at_us;  // virtual microseconds since the run's start
  uint64_t seq;   // order of scheduling: among events at one time, the first scheduled runs first
  uint32_t slot;
  uint32_t node;  // the node it runs at (a message's receiver), or UINT32_MAX
};

// A 4-ary min-heap of events by (time, order): half the levels of a binary heap, and a node's
// children share cache lines.
class EventHeap {
 public:
  bool empty() const { return v_.empty(); }
  size_t size() const { return v_.size(); }
  const QueuedEvent& top() const { return v_.front(); }
  // The event after top(), as the heap stands (null when there is none).
  const QueuedEvent* second() const;
  void push(QueuedEvent e);
  void pop();
  // Takes `events` as the heap's contents, sorted (a sorted array is a heap); `events` gets
  // the old storage back, empty, to reuse.
  void Assign(std::vector<QueuedEvent>& events);

  static bool Before(const QueuedEvent& a, const QueuedEvent& b) {
    return a.at_us != b.at_us ? a.at_us < b.at_us : a.seq < b.seq;
  }

 private:
  std::vector<QueuedEvent> v_;
};

// A calendar queue: the next kWindow milliseconds in buckets of a millisecond, later events in
// a heap. At 100,000 nodes half a million events wait at once; one heap of them was a tenth of
// a run, its deep levels cache misses on every pop. Here an event is appended to its bucket
// (sequential writes), and only the current millisecond's few hundred events are a heap, which
// stays in the cache. The order is exactly the heap's: time, then order of scheduling.
// Events are never scheduled before the last one taken (virtual time does not go back).
class EventQueue {
 public:
  static constexpr int64_t kBucketUs = 1000;
  static constexpr int64_t kWindow = 4096;  // buckets: 4.1 s ahead

  EventQueue() : ring_(kWindow) {}
  bool empty() const { return now_.empty(); }
  // The first event (the queue is not empty).
  const QueuedEvent& top() const { return now_.top(); }
  // The event after it, as the queue stands, if it is in the same millisecond; else null.
  const QueuedEvent* second() const { return now_.second(); }
  void push(QueuedEvent e);
  void pop();
  size_t size() const { return now_.size() + in_ring_ + later_.size(); }

 private:
  // Makes the next events' millisecond current, when the current one is done.
  void Advance();

  int64_t bucket_ = 0;  // the current millisecond: its events are in `now_`
  EventHeap now_;
  // Bucket b at b % kWindow, for b - bucket_ < kWindow; in_ring_ events in all.
  std::vector<std::vector<QueuedEvent>> ring_;
  size_t in_ring_ = 0;
  EventHeap later_;                 // the rest
  std::vector<QueuedEvent> spare_;  // a bucket's storage, reused
};

// Events' bodies by slot, while they wait: in chunks that never move (an event runs in place
// while it schedules others), a slot found by two array reads. A std::deque of them kept two
// per block, and its map of blocks was megabytes: finding a slot was a cache miss. A freed slot
// is the next one taken, while it is still in the cache.
template <typename T>
class Parking {
 public:
  static constexpr uint32_t kChunk = 4096;

  uint32_t Park(T value) {
    uint32_t slot;
    if (free_.empty()) {
      slot = size_++;
      if (slot % kChunk == 0) chunks_.push_back(std::make_unique<T[]>(kChunk));
    } else {
      slot = free_.back();
      free_.pop_back();
    }
    (*this)[slot] = std::move(value);
    return slot;
  }
  T& operator[](uint32_t slot) { return chunks_[slot / kChunk][slot % kChunk]; }
  const T& operator[](uint32_t slot) const { return chunks_[slot / kChunk][slot % kChunk]; }
  // The slot's event has run (its value is left for the next Park to replace).
  void Free(uint32_t slot) { free_.push_back(slot); }

 private:
  std::vector<std::unique_ptr<T[]>> chunks_;
  uint32_t size_ = 0;
  std::vector<uint32_t> free_;
};

}  // namespace mesh::sim
