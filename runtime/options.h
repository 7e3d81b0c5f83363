// Configuration of a Scheduler: servers, worker pool, time slice, backend.
#ifndef UMCG_RPC_RUNTIME_OPTIONS_H_
#define UMCG_RPC_RUNTIME_OPTIONS_H_

#include <csignal>
#include <cstddef>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace umcg_rpc::runtime {

// Which implementation moves workers on and off the CPUs.
enum class BackendKind {
  kAuto,      // Probe the kernel at start-up; kernel if usable, else fallback.
  kKernel,    // Real UMCG syscalls (patched kernel only).
  kFallback,  // Cooperative hand-off plus a blocked-worker monitor.
};

// Parses "auto", "kernel" or "fallback" (the --backend flag values).
absl::StatusOr<BackendKind> ParseBackendKind(absl::string_view text);

// Returns the flag spelling of `kind`.
absl::string_view BackendKindName(BackendKind kind);

// What Shutdown() does with work that has not finished.
enum class ShutdownMode {
  kDrain,   // Run every queued task, wait for every running task.
  kCancel,  // Fail queued tasks with CANCELLED, cancel running ones, wait.
};

// Scheduler configuration; every field has a usable default.
struct Options {
  // Number of server threads (CPU slots); 0 means one per CPU in the
  // process's affinity mask.
  int servers = 0;
  // Pin server i to the i-th CPU of the affinity mask.
  bool pin_servers = true;
  // Hard cap on worker threads (running + blocked + idle).
  int max_workers = 256;
  // Workers created at start-up and never retired.
  int min_workers = 0;
  // Stack size of worker threads (a guard page is added below it).
  size_t worker_stack_size = 256 * 1024;
  // Fallback backend: a worker left idle this long after a task gives its
  // stack's pages below its idle frame back to the kernel (madvise), if
  // any are resident, when the monitor next looks (each tick): what a deep
  // call (a gRPC write) made resident otherwise stays so until the worker
  // retires. A worker reused sooner keeps them, and one whose task lasted
  // this long trims as it goes idle. Kernel-backend workers wait for work
  // inside the kernel and never trim. Zero or less disables.
  absl::Duration idle_stack_trim_delay = absl::Milliseconds(20);
  // Idle workers above min_workers are retired after this long.
  absl::Duration worker_idle_timeout = absl::Seconds(5);
  // A worker running longer than this is preempted; zero disables. The
  // fallback counts the worker's CPU time (from the monitor's first look
  // in a dispatch, everything before it counted as used), so that a thread
  // held off its CPU by the host is not parked for it; the kernel backend
  // counts wall time.
  absl::Duration time_slice = absl::Milliseconds(20);
  // Fallback only: a worker asleep in the kernel (outside a BlockingScope)
  // for longer than this loses its CPU to another worker; zero disables.
  absl::Duration block_threshold = absl::Milliseconds(2);
  // Queued (not yet running) tasks beyond this make Submit fail with
  // RESOURCE_EXHAUSTED; zero means unbounded.
  size_t max_queued_tasks = 0;
  // Backend choice; kAuto probes.
  BackendKind backend = BackendKind::kAuto;
  // Run the monitor thread, and the fallback backend's server threads, as
  // SCHED_BATCH: waking them then does not preempt the worker running on
  // that CPU. Measured (docs/runtime.md): the monitor's 500 us tick
  // preempting a worker that ran tasks back to back cost two context
  // switches each time and about a fifth of the throughput on one CPU.
  // Their work (a block or time-slice check, a dispatch) then waits for the
  // running thread to block or end its slice. Only under a SCHED_OTHER
  // creating thread; otherwise every runtime thread keeps its policy.
  bool batch_runtime_threads = true;
  // Grow the process's futex hash table (per process since Linux 6.16) to
  // about one bucket per thread the scheduler may run, so thousands of
  // workers asleep on futexes do not share the kernel's default 4 buckets
  // per CPU (runtime/futex_hash.h). Process-wide; never shrinks the table.
  bool size_futex_hash = true;
  // Signal used by the fallback backend to preempt workers.
  int preempt_signal = SIGURG;
  // Runs on each new worker thread before it takes its first task, before
  // it registers with the backend (e.g. to turn off per-thread allocator
  // caches). Must not block for long; may be empty.
  std::function<void()> on_worker_start;
  // Testing only (leave empty): runs on a worker after each task, outside
  // any runtime lock, once the worker is back in the idle pool and may
  // already be dispatched again: where a worker frees its finished task.
  std::function<void()> after_task_for_testing;
  // Testing only (leave empty): runs on the monitor each time it has
  // declared a worker lost (asleep on its CPU), before it releases that
  // CPU, outside any runtime lock. The worker may wake meanwhile and run
  // elsewhere.
  std::function<void()> on_lost_for_testing;
  // Testing only (leave empty): runs on a dispatcher (fallback: a server
  // thread, or a worker handing its CPU on) after it marked a worker
  // RUNNING and released the run-queue mutex, just before it wakes that
  // worker. The worker may already run meanwhile, having seen RUNNING.
  std::function<void()> before_wake_for_testing;
  // Testing only (leave empty): runs on the thread that creates, joins and
  // frees workers (not the monitor), before each round of that work,
  // outside any runtime lock. It may block, as a malloc() there may.
  std::function<void()> before_chores_for_testing;
  // Receives one-line log messages (backend choice, errors in tasks).
  // Defaults to stderr when empty.
  std::function<void(absl::string_view)> logger;
};

}  // namespace umcg_rpc::runtime

#endif  // UMCG_RPC_RUNTIME_OPTIONS_H_
