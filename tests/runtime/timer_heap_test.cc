// TimerHeap: the earliest due timer comes out first, and a timer removed
// from anywhere in the heap never does.
#include "runtime/internal/timer_heap.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/random/random.h"
#include "gtest/gtest.h"
#include "runtime/internal/suspension.h"
#include "runtime/internal/worker.h"

namespace umcg_rpc::runtime::internal {
namespace {

TEST(TimerHeapTest, PopsDueTimersInOrderAndSkipsRemovedOnes) {
  constexpr int kTimers = 500;
  Worker worker;
  absl::BitGen gen;
  std::vector<std::unique_ptr<Suspension>> all;
  TimerHeap heap;
  heap.Reserve(kTimers);
  for (int i = 0; i < kTimers; ++i) {
    all.push_back(std::make_unique<Suspension>(
        worker, absl::Uniform<int64_t>(gen, 0, 100)));
    heap.Push(*all.back());
  }
  EXPECT_EQ(heap.size(), static_cast<size_t>(kTimers));
  // Remove every third one, in random order.
  std::vector<Suspension*> removed;
  for (int i = 0; i < kTimers; i += 3) removed.push_back(all[i].get());
  std::shuffle(removed.begin(), removed.end(), gen);
  for (Suspension* s : removed) {
    heap.Remove(*s);
    EXPECT_EQ(s->heap_index, Suspension::kNotInHeap);
    heap.Remove(*s);  // A second removal is a no-op.
  }
  EXPECT_EQ(heap.size(), kTimers - removed.size());
  // Nothing is due before the earliest time.
  const int64_t first = heap.NextDue();
  EXPECT_EQ(heap.PopDue(first - 1), nullptr);
  int64_t last = INT64_MIN;
  size_t popped = 0;
  while (Suspension* s = heap.PopDue(100)) {
    EXPECT_GE(s->due_ns, last);
    EXPECT_EQ(s->heap_index, Suspension::kNotInHeap);
    EXPECT_EQ(std::find(removed.begin(), removed.end(), s), removed.end());
    last = s->due_ns;
    ++popped;
  }
  EXPECT_EQ(popped, kTimers - removed.size());
  EXPECT_TRUE(heap.empty());
  EXPECT_EQ(heap.NextDue(), INT64_MAX);
}

TEST(TimerHeapTest, PopDueStopsAtTheFirstTimerNotDue) {
  Worker worker;
  Suspension early(worker, 10);
  Suspension late(worker, 20);
  TimerHeap heap;
  heap.Reserve(2);
  heap.Push(late);
  heap.Push(early);
  EXPECT_EQ(heap.PopDue(15), &early);
  EXPECT_EQ(heap.PopDue(15), nullptr);
  EXPECT_EQ(heap.PopDue(20), &late);
}

}  // namespace
}  // namespace umcg_rpc::runtime::internal
