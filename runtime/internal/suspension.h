// A worker's wait that the runtime ends (runtime::WaitForEvent): the
// worker's thread stays asleep until it holds a CPU again.
#ifndef UMCG_RPC_RUNTIME_INTERNAL_SUSPENSION_H_
#define UMCG_RPC_RUNTIME_INTERNAL_SUSPENSION_H_

#include <cstddef>
#include <cstdint>

namespace umcg_rpc::runtime::internal {

struct Worker;

// One wait, on the waiting worker's stack. Ended once, by whichever comes
// first: Core::Resume() (an event it waits on was notified; later calls do
// nothing) or its timer.
struct Suspension {
  static constexpr size_t kNotInHeap = SIZE_MAX;

  explicit Suspension(Worker& w, int64_t due) : worker(&w), due_ns(due) {}
  Suspension(const Suspension&) = delete;
  Suspension& operator=(const Suspension&) = delete;

  Worker* const worker;
  // When its timer fires (MonotonicNanos() time); INT64_MAX: no timer.
  const int64_t due_ns;
  // The core mutex guards these four and heap_index.
  bool ended = false;      // Resumed, or due to resume itself (Suspend()).
  bool suspended = false;  // Its worker sleeps until the core resumes it.
  // Kernel backend: its worker's server has seen it leave the CPU (it is
  // inside umcg_wait()), so it may be queued for a server to run.
  bool off_cpu = false;
  // Kernel backend: its timer is due before the monitor's planned wake-up;
  // the server kicks the monitor as it processes the release.
  bool kick_monitor = false;
  size_t heap_index = kNotInHeap;  // Position in the core's TimerHeap.
};

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_SUSPENSION_H_
