// The seam between the scheduling core and the mechanism that actually
// moves threads on and off CPUs (UMCG syscalls, or futex hand-off).
#ifndef UMCG_RPC_RUNTIME_INTERNAL_BACKEND_H_
#define UMCG_RPC_RUNTIME_INTERNAL_BACKEND_H_

#include "absl/status/status.h"
#include "runtime/internal/server.h"
#include "runtime/internal/worker.h"
#include "runtime/options.h"

namespace umcg_rpc::runtime::internal {

// A context-switch mechanism. The core owns policy (queues, states,
// deadlines); the backend owns "run this worker on this server's CPU".
class Backend {
 public:
  virtual ~Backend() = default;

  // The concrete kind (never kAuto).
  virtual BackendKind kind() const = 0;

  // Called on a server thread before its first dispatch.
  virtual absl::Status AttachServer(Server& server) = 0;

  // Called on a worker thread before it first waits for dispatch.
  virtual absl::Status AttachWorker(Worker& worker) = 0;

  // Called on a worker thread just before it exits.
  virtual void DetachWorker(Worker& worker) = 0;

  // Server side: runs `worker` (already kRunning, server->current set) and
  // returns once it has released the CPU (server->current == nullptr).
  virtual void SwitchTo(Server& server, Worker& worker) = 0;

  // Worker side: starts `next` (already kRunning) on the CPU the caller is
  // giving up; a direct worker-to-worker hand-off.
  virtual void StartOnThisCpu(Worker& next) = 0;

  // Any side: tells `server` its worker released the CPU. Async-signal-safe.
  virtual void NotifyReleased(Server& server) = 0;

  // Worker side: sleeps until dispatched (kRunning) or told to exit.
  // Async-signal-safe.
  virtual void WaitForDispatch(Worker& worker) = 0;

  // Monitor side: asks a running (or lost) worker to stop at its next safe
  // point; the worker then parks via the core's preemption path.
  virtual void Interrupt(Worker& worker) = 0;

  // True if BlockingScope must release the CPU itself because the kernel
  // does not report blocking; false when the kernel does it.
  virtual bool cooperative() const = 0;
};

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_BACKEND_H_
