// Backend on the patched kernel's UMCG syscalls (kernel/include/uapi/linux/
// umcg.h): discovery, and the switch mechanism built on umcg_ctl() and
// umcg_wait().
#ifndef UMCG_RPC_RUNTIME_INTERNAL_KERNEL_BACKEND_H_
#define UMCG_RPC_RUNTIME_INTERNAL_KERNEL_BACKEND_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernel/include/uapi/linux/umcg.h"
#include "runtime/internal/backend.h"

namespace umcg_rpc::runtime::internal {

// Syscall numbers read from the kernel's sysfs discovery files.
struct UmcgSyscalls {
  int64_t nr_umcg_ctl = -1;
  int64_t nr_umcg_wait = -1;
};

// Reads UMCG_SYSFS_* and checks the ABI version; NOT_FOUND if the kernel
// has no UMCG, FAILED_PRECONDITION on an ABI mismatch.
absl::StatusOr<UmcgSyscalls> DiscoverUmcg();

// OK if DiscoverUmcg() succeeds; otherwise its status.
absl::Status ProbeKernelUmcg();

// UMCG backend; see docs/runtime.md "The kernel backend". Blocking is
// detected by the kernel, so BlockingScope is a no-op on it.
//
// Protocol in brief: a server runs a worker with umcg_wait(next_tid =
// worker) and sleeps until the kernel wakes it (the worker blocked, was
// preempted or exited) or the worker hands the CPU back with
// umcg_wait(next_tid = server). Workers never switch to each other: the
// server queues a worker that left only once that worker is inside
// umcg_wait(), the one point from which another server may claim it safely.
// Workers made runnable by the kernel come back through its idle-worker
// list, drained by whoever next schedules.
class KernelBackend final : public Backend {
 public:
  // Installs `handler` for `signal` (used for preemption requests and to
  // wake idle servers from threads that are not UMCG threads).
  static absl::StatusOr<std::unique_ptr<KernelBackend>> Create(
      int signal, void (*handler)(int));

  BackendKind kind() const override { return BackendKind::kKernel; }
  bool cooperative() const override { return false; }
  absl::Status AttachServer(Server& server) override;
  void DetachServer(Server& server) override;
  absl::Status AttachWorker(Worker& worker) override;
  void DetachWorker(Worker& worker) override;
  Worker* SwitchTo(Server& server, Worker& worker) override;
  void LeaveCpu(Worker& self, Server& server) override;
  void WakeDispatched(Worker& worker) override;
  void NotifyReleased(Server& server) override;
  void WaitForDispatch(Worker& worker) override;
  bool WaitForDispatchUnless(Worker& worker,
                             const std::atomic<bool>& stop) override;
  Worker* AwaitWorker(Server& server) override;
  bool PrepareDirectStart() override;
  bool StartOnParkedServer(Server& server, Worker& worker) override;
  void ParkServer(Server& server) override;
  void UnparkServer(Server& server) override;
  void PublishIdleServer(Server& server) override;
  int DrainRunnable(absl::FunctionRef<void(Worker&)> sink) override;
  bool Interrupt(Worker& worker) override;
  void EnterCritical(Worker& worker) override;
  void ExitCritical(Worker& worker) override;
  void Describe(char* buf, size_t size) override;
  void Describe(Server& server, char* buf, size_t size) override;
  void Describe(Worker& worker, char* buf, size_t size) override;

  // The discovered syscall numbers.
  const UmcgSyscalls& syscalls() const { return nr_; }

 private:
  KernelBackend(UmcgSyscalls nr, int signal) : nr_(nr), signal_(signal) {}

  int64_t Ctl(uint32_t flags, struct umcg_task* self) const;
  int64_t Wait(uint32_t flags, uint64_t abs_timeout) const;
  // The calling thread's struct for umcg_wait(WAKE_ONLY): its own if it
  // is a thread of ours, else its waker registration (made on first use);
  // nullptr if it cannot have one (somebody else's UMCG thread).
  struct umcg_task* WakerTask() const;
  // Server side: umcg_wait(next_tid = tid), retried until the switch
  // happened (the target may not be IDLE yet).
  void ServerSwitch(Server& server, uint32_t tid);
  // Takes `tid` out of the idle-server slot if it is still there.
  void Unpublish(uint32_t tid);

  const UmcgSyscalls nr_;
  const int signal_;
  // Head of the kernel's idle-worker list (UMCG idle_workers_ptr) and the
  // idle-server slot (idle_server_tid_ptr), on their own cache lines.
  alignas(64) __u64 idle_head_ = 0;
  alignas(64) __u32 idle_server_ = 0;
};

// Creates the kernel backend, or explains why it cannot be used.
absl::StatusOr<std::unique_ptr<Backend>> CreateKernelBackend(
    int signal, void (*handler)(int));

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_KERNEL_BACKEND_H_
