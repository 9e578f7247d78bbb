#include "event_queue.h"

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace mesh::sim {
namespace {

using Key = std::pair<int64_t, uint64_t>;  // (time, order): the order the queue must keep

// Runs `steps` random operations against a plain ordered set; every pop must agree with it.
// Delays mix the current millisecond, the window and beyond it, and gaps longer than the window.
void CheckAgainstSet(uint32_t seed, int steps) {
  std::mt19937_64 rng(seed);
  EventQueue queue;
  std::set<Key> expected;
  uint64_t seq = 0;
  int64_t now = 0;
  auto push = [&](int64_t at) {
    queue.push({at, seq, uint32_t(seq), uint32_t(seq % 7)});
    expected.insert({at, seq});
    ++seq;
  };
  for (int i = 0; i < steps; ++i) {
    const uint64_t r = rng() % 100;
    if (r < 55 || expected.empty()) {
      // Now, this millisecond or the next, a message's latency, inside the window, at its edge,
      // or far beyond it.
      constexpr int64_t kSpans[] = {1, 1'000, 100'000, 4'000'000, 400'000, 60'000'000};
      const size_t kind = rng() % std::size(kSpans);
      const int64_t delay = (kind == 4 ? 4'000'000 : 0) + int64_t(rng() % uint64_t(kSpans[kind]));
      push(now + delay);
    } else {
      ASSERT_FALSE(queue.empty());
      ASSERT_EQ(queue.size(), expected.size());
      const QueuedEvent& top = queue.top();
      ASSERT_EQ(Key(top.at_us, top.seq), *expected.begin()) << "step " << i;
      if (const QueuedEvent* second = queue.second(); second != nullptr) {
        ASSERT_EQ(Key(second->at_us, second->seq), *std::next(expected.begin()));
      }
      now = top.at_us;
      queue.pop();
      expected.erase(expected.begin());
    }
  }
  while (!expected.empty()) {  // drained to the end, across every gap
    ASSERT_FALSE(queue.empty());
    ASSERT_EQ(Key(queue.top().at_us, queue.top().seq), *expected.begin());
    queue.pop();
    expected.erase(expected.begin());
  }
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.size(), 0u);
}

TEST(EventQueueTest, PopsInTheOrderOfTimeThenScheduling) {
  for (uint32_t seed = 1; seed <= 20; ++seed) CheckAgainstSet(seed, 20'000);
}

TEST(EventQueueTest, EventsAtOneTimeRunInTheOrderScheduled) {
  EventQueue queue;
  for (uint64_t seq = 0; seq < 100; ++seq) queue.push({5'000, seq, 0, 0});
  for (uint64_t seq = 0; seq < 100; ++seq) {
    ASSERT_EQ(queue.top().seq, seq);
    queue.pop();
  }
  EXPECT_TRUE(queue.empty());
}

TEST(EventQueueTest, JumpsAGapLongerThanTheWindowAndStartsAgainWhenEmptied) {
  EventQueue queue;
  queue.push({10, 0, 0, 0});
  queue.push({3'600'000'000, 1, 0, 0});  // an hour later
  queue.push({2'000, 2, 0, 0});
  EXPECT_EQ(queue.top().seq, 0u);
  queue.pop();
  EXPECT_EQ(queue.top().seq, 2u);
  EXPECT_EQ(queue.second(), nullptr);  // the next one is not in this millisecond
  queue.pop();
  EXPECT_EQ(queue.top().at_us, 3'600'000'000);
  queue.push({3'600'000'000, 3, 0, 0});  // at the current time: after the one scheduled before
  queue.pop();
  EXPECT_EQ(queue.top().seq, 3u);
  queue.pop();
  EXPECT_TRUE(queue.empty());
  queue.push({7'200'000'000, 4, 0, 0});  // an emptied queue starts again at its next event
  queue.push({7'200'000'500, 5, 0, 0});
  EXPECT_EQ(queue.top().seq, 4u);
  ASSERT_NE(queue.second(), nullptr);
  EXPECT_EQ(queue.second()->seq, 5u);
}

TEST(ParkingTest, SlotsKeepTheirPlaceAndAreReused) {
  Parking<std::string> parked;
  std::vector<uint32_t> slots;
  for (int i = 0; i < 10'000; ++i) slots.push_back(parked.Park("event " + std::to_string(i)));
  std::string* first = &parked[slots[0]];  // an event runs in place while more are parked
  for (int i = 0; i < 10'000; ++i) parked.Park("more");
  EXPECT_EQ(&parked[slots[0]], first);
  for (int i = 0; i < 10'000; ++i) ASSERT_EQ(parked[slots[i]], "event " + std::to_string(i));
  parked.Free(slots[7]);
  parked.Free(slots[9'000]);
  EXPECT_EQ(parked.Park("again"), slots[9'000]);  // the last freed first
  EXPECT_EQ(parked.Park("and again"), slots[7]);
  EXPECT_EQ(parked[slots[7]], "and again");
}

}  // namespace
}  // namespace mesh::sim
