#include "event_queue.h"

#include <algorithm>

namespace mesh::sim {

const QueuedEvent* EventHeap::second() const {
  const size_t end = std::min<size_t>(5, v_.size());
  const QueuedEvent* best = nullptr;
  for (size_t c = 1; c < end; ++c) {
    if (best == nullptr || Before(v_[c], *best)) best = &v_[c];
  }
  return best;
}

void EventHeap::push(QueuedEvent e) {
  size_t i = v_.size();
  v_.push_back(e);
  while (i > 0) {
    const size_t parent = (i - 1) / 4;
    if (!Before(e, v_[parent])) break;
    v_[i] = v_[parent];
    i = parent;
  }
  v_[i] = e;
}

void EventHeap::pop() {
  const QueuedEvent last = v_.back();
  v_.pop_back();
  const size_t n = v_.size();
  if (n == 0) return;
  size_t i = 0;
  for (;;) {
    const size_t first = 4 * i + 1;
    if (first >= n) break;
    size_t best = first;
    const size_t end = std::min(first + 4, n);
    for (size_t c = first + 1; c < end; ++c) {
      if (Before(v_[c], v_[best])) best = c;
    }
    if (!Before(v_[best], last)) break;
    v_[i] = v_[best];
    i = best;
  }
  v_[i] = last;
}

void EventHeap::Assign(std::vector<QueuedEvent>& events) {
  std::sort(events.begin(), events.end(), Before);
  v_.swap(events);
  events.clear();
}

void EventQueue::push(QueuedEvent e) {
  const int64_t b = e.at_us / kBucketUs;
  if (now_.empty() && in_ring_ == 0 && later_.empty()) {
    bucket_ = b;  // an empty queue starts at its first event
    now_.push(e);
  } else if (b <= bucket_) {
    now_.push(e);  // the current millisecond (never an earlier one)
  } else if (b - bucket_ < kWindow) {
    ring_[size_t(b % kWindow)].push_back(e);
    ++in_ring_;
  } else {
    later_.push(e);
  }
}

void EventQueue::pop() {
  now_.pop();
  if (now_.empty()) Advance();
}

void EventQueue::Advance() {
  while (now_.empty() && (in_ring_ > 0 || !later_.empty())) {
    if (in_ring_ == 0) {
      bucket_ = later_.top().at_us / kBucketUs;  // nothing in the window: jump to the next
    } else {
      ++bucket_;
    }
    std::vector<QueuedEvent>& here = ring_[size_t(bucket_ % kWindow)];
    if (!here.empty()) {
      in_ring_ -= here.size();
      spare_.swap(here);  // `here` takes the spare storage, empty
      now_.Assign(spare_);
    }
    // Events scheduled beyond the window when they were made, now in this millisecond.
    while (!later_.empty() && later_.top().at_us / kBucketUs == bucket_) {
      now_.push(later_.top());
      later_.pop();
    }
  }
}

}  // namespace mesh::sim
