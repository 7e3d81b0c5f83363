// A server: the thread that owns one CPU slot and dispatches workers on it.
#ifndef UMCG_RPC_RUNTIME_INTERNAL_SERVER_H_
#define UMCG_RPC_RUNTIME_INTERNAL_SERVER_H_

#include <sys/types.h>

#include <atomic>
#include <thread>

#include "runtime/internal/parker.h"
#include "runtime/internal/umcg_task_ops.h"

namespace umcg_rpc::runtime::internal {

struct Worker;

// Why a worker left its server's CPU.
enum class ReleaseReason : uint32_t {
  kDone,       // Task finished (the worker pooled itself), nothing to run.
  kBlocked,    // BlockingScope entered, nothing else to run.
  kYield,      // Voluntary yield (the worker queued itself first).
  kPreempted,  // Time slice expired; the server re-queues the worker.
  kLost,       // Monitor saw it asleep outside a scope.
  kExit,       // Kernel backend: the worker is retiring (nothing to queue).
  // Kernel backend: a suspended wait (Core::Suspend); Resume() or its timer
  // queues the worker, or the server does if that already happened.
  kSuspended,
};

// One CPU slot.
struct Server {
  int id = 0;
  int cpu = -1;  // CPU it is pinned to, -1 if unpinned.
  std::thread thread;
  Parker parker;                          // Sleeps here when idle / waiting.
  std::atomic<Worker*> current{nullptr};  // Worker holding this CPU.
  std::atomic<ReleaseReason> reason{ReleaseReason::kDone};
  std::atomic<Worker*> released{nullptr};  // Who released it last.
  // released's id, for DebugState(): on the fallback `released` is never
  // cleared and may point at a worker since retired and freed.
  std::atomic<int> released_id{-1};
  bool idle = false;  // In idle_servers_ (core mutex).
  // Fallback: idle, listed by the worker that left it (HandOff) while this
  // thread still waits in SwitchTo(); a worker that stops blocking may then
  // take the CPU without waking the thread (core mutex).
  bool lazy_idle = false;
  std::atomic<pid_t> tid{0};  // Set by the thread at start.
  // Kernel backend: a wake-up for ParkServer() that arrived before the
  // server was asleep (1), or none (0).
  std::atomic<int> wake_token{0};
  // Kernel backend: a worker that Core::Submit marked RUNNING here while
  // this server was idle, for the thread to find when it leaves its park
  // (core mutex); `handed_started`: Submit also woke it (the thread waits
  // for it, Backend::AwaitWorker()), or not (the thread switches to it).
  Worker* handed = nullptr;
  bool handed_started = false;
  // Kernel backend: this thread's struct umcg_task.
  UmcgSlot<Server> umcg;
};

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_SERVER_H_
