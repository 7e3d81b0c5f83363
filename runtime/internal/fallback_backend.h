// Backend for stock kernels: futex hand-off between a server and its
// worker, blocking reported cooperatively, preemption by signal.
#ifndef UMCG_RPC_RUNTIME_INTERNAL_FALLBACK_BACKEND_H_
#define UMCG_RPC_RUNTIME_INTERNAL_FALLBACK_BACKEND_H_

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/internal/backend.h"

namespace umcg_rpc::runtime::internal {

// Futex hand-off backend; see docs/runtime.md "Fallback backend".
class FallbackBackend final : public Backend {
 public:
  // Installs `handler` for `preempt_signal` (process-wide, SA_RESTART).
  static absl::StatusOr<std::unique_ptr<FallbackBackend>> Create(
      int preempt_signal, void (*handler)(int));

  BackendKind kind() const override { return BackendKind::kFallback; }
  bool cooperative() const override { return true; }
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
  bool PrepareDirectStart() override { return false; }
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

 private:
  explicit FallbackBackend(int preempt_signal)
      : preempt_signal_(preempt_signal) {}
  int preempt_signal_;
};

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_FALLBACK_BACKEND_H_
