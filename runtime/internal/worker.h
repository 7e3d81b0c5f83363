// A worker thread and the states it moves through.
#ifndef UMCG_RPC_RUNTIME_INTERNAL_WORKER_H_
#define UMCG_RPC_RUNTIME_INTERNAL_WORKER_H_

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "runtime/internal/parker.h"
#include "runtime/internal/task_state.h"
#include "runtime/internal/thread_stack.h"
#include "runtime/internal/umcg_task_ops.h"

namespace umcg_rpc::runtime::internal {

struct Server;
struct Suspension;
class Core;

// Worker states; transitions out of kRunning are CASes so that exactly one
// of {the worker, the monitor, the preemption handler} releases the CPU.
enum class WorkerState : uint32_t {
  kIdle,       // In the idle stack, no task.
  kRunnable,   // In the resumed queue, waiting for a server.
  kRunning,    // Holds a server's CPU.
  kBlocked,    // Inside a BlockingScope; CPU released.
  kLost,       // Monitor released its CPU while it slept uninstrumented.
  kPreempted,  // Parked by the time-slice signal; its server re-queues it.
  kReclaimed,  // Was kLost, parked by the signal; the monitor re-queues it.
  // Kernel backend only: the kernel returned the worker to the idle list
  // (its block ended, or it was preempted) before its server had processed
  // the CPU it left; the server queues it when it does.
  kReturned,
};

// One pooled worker thread.
struct Worker {
  Core* core = nullptr;  // Owning scheduler.
  int id = 0;
  std::atomic<pid_t> tid{0};
  // Written by the thread itself, before it registers or gives up, under
  // the core mutex: whoever joins it took it out of the pool after that.
  pthread_t thread{};
  std::atomic<WorkerState> state{WorkerState::kIdle};
  Parker parker;                         // Sleeps here between dispatches.
  std::atomic<Server*> server{nullptr};  // Valid while kRunning.
  std::atomic<bool> exit{false};         // Set to retire the thread.
  // Kernel backend: set by the thread as its last access to this struct
  // after it left UMCG; the owner may then join and free it.
  std::atomic<bool> exited{false};
  std::shared_ptr<TaskState> task;  // Guarded by the core mutex.
  Worker* next = nullptr;           // Resumed-queue link (core mutex).
  bool in_idle = false;             // In the idle stack (core mutex).
  bool in_resumed = false;          // In the resumed queue (core mutex).
  // Kernel backend: the wait it is suspended in, from Suspend() until its
  // server has queued it or handed it to Resume() (core mutex).
  Suspension* suspension = nullptr;
  // Counted out of the core's starting workers: it reached the idle pool,
  // or never will (core mutex).
  bool registered = false;
  int64_t idle_since_ns = 0;  // Core mutex.
  // Has run a task since its stack was last trimmed: set by the worker's
  // thread before the task pools it, cleared by it after a trim; read by
  // the monitor, under the core mutex, while the worker is idle.
  std::atomic<bool> ran_task{false};
  // The task just run lasted idle_stack_trim_delay or longer: the worker
  // trims as it goes idle, unasked (thread-private).
  bool trim_on_idle = false;
  // Set by the monitor (under the core mutex) for an idle worker whose
  // stack is to be trimmed; cleared by the worker, which then trims, or
  // finds itself dispatched first and does not.
  std::atomic<bool> trim_requested{false};
  // The thread's stack, looked up at the first trim; low == 0 if unknown,
  // or if trimming it failed once (both thread-private: only the worker's
  // own thread uses them).
  StackRange stack;
  bool stack_looked_up = false;
  int64_t runnable_since_ns = 0;  // Written before enqueueing.
  // Queued by ExitBlocking() (fallback) or at the end of a suspended wait
  // (either backend). Such a worker goes before queued tasks (it finishes
  // a call already started), where a preempted or yielding one, or a
  // kernel worker whose reported block ended, queues behind older tasks
  // (core mutex).
  bool woken = false;
  // Fallback: dispatches not yet woken by their dispatcher, a server
  // thread or a worker that marked this one RUNNING after picking it under
  // the core mutex (incremented there) and wakes it after releasing the
  // mutex (decremented right after the wake-up, as the dispatcher's last
  // access). The worker can run meanwhile, having seen kRunning, and even
  // finish and go idle: the monitor retires no worker with a wake-up due,
  // so a late one never touches freed memory.
  std::atomic<int> wakes_due{0};
  std::atomic<int64_t> dispatch_ns{0};
  std::atomic<uint64_t> dispatch_seq{0};
  std::atomic<uint64_t> ack_seq{0};  // Last dispatch_seq the worker saw.
  // Preemption masking, touched only by this worker's thread and its
  // signal handler.
  std::atomic<int> no_preempt{0};
  std::atomic<bool> preempt_pending{false};
  // Monitor-private bookkeeping.
  uint64_t mon_seq = 0;
  int64_t mon_sleep_since_ns = 0;
  uint64_t mon_runtime_ns = 0;
  uint64_t mon_signalled_seq = 0;
  int64_t mon_reclaim_signal_ns = 0;
  // A CPU time (schedstat) the monitor has not read yet.
  static constexpr int64_t kNotRead = INT64_MIN;
  // Fallback time slice: the thread's CPU time at which this dispatch
  // counts as started (its first reading, less the dispatch's age then,
  // up to half a slice).
  int64_t mon_slice_cpu_start_ns = kNotRead;
  // Lost worker: its CPU time when the monitor first saw it awake again
  // (kNotRead: asleep, or not seen since it was lost).
  int64_t mon_awake_cpu_ns = kNotRead;
  // Kernel backend: this thread's struct umcg_task. Never moves (workers
  // are heap-allocated and freed only after the thread has exited).
  UmcgSlot<Worker> umcg;
};

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_WORKER_H_
