// The timers of suspended waits: a binary min-heap on due time whose
// entries know their position, so that a wait resumed early leaves it in
// O(log n).
#ifndef UMCG_RPC_RUNTIME_INTERNAL_TIMER_HEAP_H_
#define UMCG_RPC_RUNTIME_INTERNAL_TIMER_HEAP_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/internal/suspension.h"

namespace umcg_rpc::runtime::internal {

// Not thread-safe (the core mutex guards it). Allocates only in Reserve():
// Push() beyond the reserved capacity is a caller bug, checked.
class TimerHeap {
 public:
  // Makes room for `n` timers (one per worker at most).
  void Reserve(size_t n) { heap_.reserve(n); }
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  // The earliest due time, INT64_MAX if empty.
  int64_t NextDue() const {
    return heap_.empty() ? INT64_MAX : heap_[0]->due_ns;
  }
  // Adds `s` (not in the heap, s.due_ns set).
  void Push(Suspension& s);
  // Removes `s` if it is in the heap.
  void Remove(Suspension& s);
  // Removes and returns the earliest timer if it is due at `now`, else
  // nullptr.
  Suspension* PopDue(int64_t now);

 private:
  void Place(size_t i, Suspension* s);
  void SiftUp(size_t i);
  void SiftDown(size_t i);
  std::vector<Suspension*> heap_;
};

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_TIMER_HEAP_H_
