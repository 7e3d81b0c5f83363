#include "runtime/internal/timer_heap.h"

#include <cstdio>
#include <cstdlib>

namespace umcg_rpc::runtime::internal {

void TimerHeap::Place(size_t i, Suspension* s) {
  heap_[i] = s;
  s->heap_index = i;
}

void TimerHeap::SiftUp(size_t i) {
  Suspension* s = heap_[i];
  while (i > 0) {
    const size_t parent = (i - 1) / 2;
    if (heap_[parent]->due_ns <= s->due_ns) break;
    Place(i, heap_[parent]);
    i = parent;
  }
  Place(i, s);
}

void TimerHeap::SiftDown(size_t i) {
  Suspension* s = heap_[i];
  const size_t n = heap_.size();
  while (true) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_[child + 1]->due_ns < heap_[child]->due_ns) {
      ++child;
    }
    if (s->due_ns <= heap_[child]->due_ns) break;
    Place(i, heap_[child]);
    i = child;
  }
  Place(i, s);
}

void TimerHeap::Push(Suspension& s) {
  if (heap_.size() == heap_.capacity()) {
    // Allocating here would be under the core mutex (see "Preemption
    // safety" in docs/runtime.md): one timer per worker was reserved.
    std::fputs("umcg-rpc runtime: timer heap full\n", stderr);
    std::abort();
  }
  heap_.push_back(&s);
  SiftUp(heap_.size() - 1);
}

void TimerHeap::Remove(Suspension& s) {
  const size_t i = s.heap_index;
  if (i == Suspension::kNotInHeap) return;
  s.heap_index = Suspension::kNotInHeap;
  Suspension* last = heap_.back();
  heap_.pop_back();
  if (last == &s) return;
  Place(i, last);
  // The moved entry may belong above or below its new place.
  SiftUp(i);
  SiftDown(last->heap_index);
}

Suspension* TimerHeap::PopDue(int64_t now) {
  if (heap_.empty() || heap_[0]->due_ns > now) return nullptr;
  Suspension* s = heap_[0];
  Remove(*s);
  return s;
}

}  // namespace umcg_rpc::runtime::internal
