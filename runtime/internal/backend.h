// The seam between the scheduling core and the mechanism that actually
// moves threads on and off CPUs (UMCG syscalls, or futex hand-off).
#ifndef UMCG_RPC_RUNTIME_INTERNAL_BACKEND_H_
#define UMCG_RPC_RUNTIME_INTERNAL_BACKEND_H_

#include <cstddef>

#include "absl/functional/function_ref.h"
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

  // True if BlockingScope must release the CPU itself because the kernel
  // does not report blocking; false when the kernel does it.
  virtual bool cooperative() const = 0;

  // Called on a server thread before its first dispatch.
  virtual absl::Status AttachServer(Server& server) = 0;

  // Called on a server thread just before it exits.
  virtual void DetachServer(Server& server) = 0;

  // Called on a worker thread before it first waits for dispatch. On the
  // kernel backend this returns only once a server has dispatched the
  // worker (registration puts it on the kernel's idle list).
  virtual absl::Status AttachWorker(Worker& worker) = 0;

  // Called on a worker thread just before it exits.
  virtual void DetachWorker(Worker& worker) = 0;

  // Server side: runs `worker` (already kRunning, server.current set) and
  // returns once the CPU is back with the server thread. Returns nullptr
  // when a worker released it (server.current == nullptr; see
  // Server::released), or the worker in server.current that the kernel
  // took off the CPU (it blocked, was preempted or died). The fallback
  // only waits: the core has woken `worker` (WakeDispatched()).
  virtual Worker* SwitchTo(Server& server, Worker& worker) = 0;

  // Worker side: gives up the CPU `self` holds on `server` to the server
  // thread (server.current already nullptr). The fallback wakes that
  // thread and returns; the caller then waits in WaitForDispatch(). The
  // kernel backend switches and returns once a server runs `self` again.
  // (A fallback worker passing its CPU to another worker marks that one
  // RUNNING and wakes it with WakeDispatched() instead.)
  virtual void LeaveCpu(Worker& self, Server& server) = 0;

  // Any thread, fallback only: wakes `worker`, which the caller marked
  // RUNNING on a server's slot, holding the core mutex (Core::Submit) or a
  // count in worker.wakes_due (Core::Dispatch, Core::HandOff).
  virtual void WakeDispatched(Worker& worker) = 0;

  // Any side: tells `server` its worker released the CPU. Async-signal-safe.
  // Fallback only (the monitor and the preemption handler use it).
  virtual void NotifyReleased(Server& server) = 0;

  // Worker side: sleeps until dispatched (kRunning), told to exit, or, on
  // the fallback, until it finds a dispatch revoked before it started
  // (kLost; see Core::AwaitDispatch()). Async-signal-safe.
  virtual void WaitForDispatch(Worker& worker) = 0;
  // Worker side: WaitForDispatch(), but returns false once it sees `stop`
  // set, and not dispatched (whoever sets `stop` unparks the worker). The
  // kernel backend waits for the dispatch alone: its workers wait inside
  // the kernel and come back dispatched.
  virtual bool WaitForDispatchUnless(Worker& worker,
                                     const std::atomic<bool>& stop) = 0;

  // Kernel backend, server side: SwitchTo() for a worker that another
  // thread started on this server (StartOnParkedServer()): waits until the
  // CPU is back with the server thread; returns as SwitchTo() does.
  virtual Worker* AwaitWorker(Server& server) = 0;

  // Any thread, before taking the core mutex: whether StartOnParkedServer()
  // may be called from this thread (kernel backend: it can wake UMCG
  // threads; registers it for that on first use). The fallback: false.
  virtual bool PrepareDirectStart() = 0;

  // Kernel backend, core mutex held: wakes `worker` (IDLE in the kernel,
  // already kRunning with server.current set) to run on `server`, an idle
  // server taken off the idle list whose thread is parked or about to
  // park, without waking that thread: it sleeps on until the worker
  // leaves the CPU, and then, or on a spurious wake-up, finds the worker
  // and waits for it with AwaitWorker(). False if the worker is not IDLE
  // in the kernel yet (it is still on its way into umcg_wait()): then
  // nothing was started and the server thread must switch to it itself.
  virtual bool StartOnParkedServer(Server& server, Worker& worker) = 0;

  // Server side, idle: sleeps until UnparkServer() or, on the kernel
  // backend, until a worker is pushed onto the kernel's idle list. May
  // return spuriously.
  virtual void ParkServer(Server& server) = 0;

  // Any thread: wakes `server` from ParkServer(), or makes its next
  // ParkServer() return at once.
  virtual void UnparkServer(Server& server) = 0;

  // Kernel backend, core mutex held: names `server` (idle, parked or about
  // to park) as the one the kernel wakes when it makes a worker runnable,
  // unless another server is named already.
  virtual void PublishIdleServer(Server& server) = 0;

  // Core mutex held: hands every worker that the kernel made runnable
  // since the last call (oldest first) to `sink`; returns how many.
  virtual int DrainRunnable(absl::FunctionRef<void(Worker&)> sink) = 0;

  // Monitor side: asks a running worker to stop at its next safe point.
  // Returns false if the request could not be made (try again later).
  virtual bool Interrupt(Worker& worker) = 0;

  // Worker side: the runtime enters / leaves a critical section (its own
  // locks held). The kernel backend sets UMCG_TF_LOCKED, so that blocking
  // there is not reported and preemption waits.
  virtual void EnterCritical(Worker& worker) = 0;
  virtual void ExitCritical(Worker& worker) = 0;

  // Diagnostics for stall reports (Scheduler::DebugState()): a short
  // phrase from racy reads, never used for decisions, written into `buf`
  // (NUL-terminated, truncated to `size`) without allocating, since the
  // core calls these under its mutex. The backend as a whole (e.g. the
  // kernel's idle list), then one server or worker.
  virtual void Describe(char* buf, size_t size) = 0;
  virtual void Describe(Server& server, char* buf, size_t size) = 0;
  virtual void Describe(Worker& worker, char* buf, size_t size) = 0;
};

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_BACKEND_H_
