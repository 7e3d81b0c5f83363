// Point-in-time counters and gauges of a Scheduler, for export.
#ifndef UMCG_RPC_RUNTIME_METRICS_H_
#define UMCG_RPC_RUNTIME_METRICS_H_

#include <array>
#include <cstdint>
#include <string>

namespace umcg_rpc::runtime {

// Log2 histogram of queue delay (submit or wake-up to dispatch).
struct DelayHistogram {
  // Bucket i counts delays in [2^i, 2^(i+1)) microseconds; bucket 0 also
  // holds delays under 1us, the last bucket everything above.
  static constexpr int kBuckets = 24;
  std::array<uint64_t, kBuckets> buckets{};
  // Returns the upper bound in microseconds of the bucket holding quantile
  // `q` (0..1) of the samples; 0 if empty.
  uint64_t QuantileUpperBoundMicros(double q) const;
};

// Snapshot returned by Scheduler::metrics().
struct MetricsSnapshot {
  // Gauges.
  int servers = 0;
  int workers = 0;           // Threads in the pool (all states).
  int idle_workers = 0;      // Waiting for a task.
  int running_workers = 0;   // Holding a server's CPU.
  int runnable_workers = 0;  // Woken or preempted, waiting for a server.
  int blocked_workers = 0;   // Released their CPU while blocked.
  int queued_tasks = 0;      // Submitted, not yet on a worker.
  // Counters.
  uint64_t tasks_submitted = 0;
  uint64_t tasks_completed = 0;  // Ran (including those that threw).
  uint64_t tasks_failed = 0;     // Threw an exception.
  uint64_t tasks_cancelled = 0;  // Never ran: cancelled.
  uint64_t tasks_expired = 0;    // Never ran: deadline exceeded.
  uint64_t switches = 0;         // Worker dispatches by servers.
  uint64_t blocks = 0;           // CPU released by a BlockingScope.
  uint64_t wakes = 0;            // Blocked workers queued again.
  // Of `wakes`, those that took an idle CPU at once (fallback: no server
  // thread woken, no wait to be dispatched).
  uint64_t direct_wakes = 0;
  // Tasks that Submit started on an idle CPU itself: the worker woken
  // directly, no server thread woken (fallback: a lazily idle server;
  // kernel backend: a parked one, docs/runtime.md).
  uint64_t direct_dispatches = 0;
  uint64_t preemptions = 0;      // Time-slice preemptions.
  uint64_t detected_blocks = 0;  // Uninstrumented blocks caught by monitor.
  uint64_t steals = 0;           // Always 0: one shared run queue.
  uint64_t workers_created = 0;
  uint64_t workers_retired = 0;
  // Worker stacks whose pages below the stack pointer went back to the
  // kernel (Options::idle_stack_trim_delay).
  uint64_t stack_trims = 0;
  // Highest number of simultaneously RUNNING workers ever observed.
  int max_running_observed = 0;
  DelayHistogram queue_delay;

  // Renders the snapshot as one "key=value ..." line.
  std::string DebugString() const;
};

}  // namespace umcg_rpc::runtime

#endif  // UMCG_RPC_RUNTIME_METRICS_H_
