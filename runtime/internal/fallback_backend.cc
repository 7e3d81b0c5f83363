#include "runtime/internal/fallback_backend.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/internal/signals.h"

namespace umcg_rpc::runtime::internal {

absl::StatusOr<std::unique_ptr<FallbackBackend>> FallbackBackend::Create(
    int preempt_signal, void (*handler)(int)) {
  absl::Status installed = InstallSignalHandler(preempt_signal, handler);
  if (!installed.ok()) return installed;
  return std::unique_ptr<FallbackBackend>(new FallbackBackend(preempt_signal));
}

absl::Status FallbackBackend::AttachServer(Server&) { return absl::OkStatus(); }

void FallbackBackend::DetachServer(Server&) {}

absl::Status FallbackBackend::AttachWorker(Worker& worker) {
  // The preemption signal must be deliverable on workers even if the
  // creating thread blocked it.
  UnblockSignal(preempt_signal_);
  (void)worker;
  return absl::OkStatus();
}

void FallbackBackend::DetachWorker(Worker&) {}

Worker* FallbackBackend::SwitchTo(Server& server, Worker&) {
  // The core woke the worker (WakeDispatched()); workers then hand the CPU
  // to each other until one leaves it to this thread.
  while (server.current.load(std::memory_order_acquire) != nullptr) {
    server.parker.Park();
  }
  return nullptr;
}

void FallbackBackend::LeaveCpu(Worker&, Server& server) {
  NotifyReleased(server);
}

void FallbackBackend::WakeDispatched(Worker& worker) { worker.parker.Unpark(); }

void FallbackBackend::NotifyReleased(Server& server) { server.parker.Unpark(); }

namespace {

// A wait for dispatch ends: dispatched, revoked before it started (the
// monitor makes that kLost without waking the thread: the wake-up token of
// the dispatch comes anyway, since every dispatcher wakes the worker right
// after marking it RUNNING, in a section the runtime does not preempt; only
// the OS descheduling the dispatcher in between delays it), or told to exit.
bool WaitIsOver(const Worker& worker) {
  const WorkerState state = worker.state.load(std::memory_order_acquire);
  return state == WorkerState::kRunning || state == WorkerState::kLost ||
         worker.exit.load(std::memory_order_acquire);
}

}  // namespace

void FallbackBackend::WaitForDispatch(Worker& worker) {
  while (!WaitIsOver(worker)) worker.parker.Park();
}

bool FallbackBackend::WaitForDispatchUnless(Worker& worker,
                                            const std::atomic<bool>& stop) {
  while (!WaitIsOver(worker)) {
    if (stop.load(std::memory_order_acquire)) return false;
    worker.parker.Park();
  }
  return true;
}

namespace {

// The core called an operation of the other backend: a bug.
[[noreturn]] void KernelOnly(const char* what) {
  std::fprintf(stderr, "umcg-rpc runtime: fallback backend: %s\n", what);
  std::abort();
}

}  // namespace

Worker* FallbackBackend::AwaitWorker(Server&) {
  // Its lazily idle servers wait in SwitchTo() instead (Core::Submit).
  KernelOnly("AwaitWorker is a kernel-backend operation");
}

bool FallbackBackend::StartOnParkedServer(Server&, Worker&) {
  KernelOnly("StartOnParkedServer is a kernel-backend operation");
}

void FallbackBackend::ParkServer(Server& server) { server.parker.Park(); }

void FallbackBackend::UnparkServer(Server& server) { server.parker.Unpark(); }

void FallbackBackend::PublishIdleServer(Server&) {}

int FallbackBackend::DrainRunnable(absl::FunctionRef<void(Worker&)>) {
  return 0;
}

bool FallbackBackend::Interrupt(Worker& worker) {
  const pid_t tid = worker.tid.load(std::memory_order_acquire);
  if (tid <= 0) return false;
  return syscall(SYS_tgkill, getpid(), tid, preempt_signal_) == 0;
}

// The fallback masks preemption with the core's counter alone.
void FallbackBackend::EnterCritical(Worker&) {}

void FallbackBackend::ExitCritical(Worker&) {}

void FallbackBackend::Describe(char* buf, size_t size) {
  std::snprintf(buf, size, "futex hand-off");
}

void FallbackBackend::Describe(Server& server, char* buf, size_t size) {
  std::snprintf(buf, size, "parker=%d", server.parker.DebugValue());
}

void FallbackBackend::Describe(Worker& worker, char* buf, size_t size) {
  std::snprintf(buf, size, "parker=%d", worker.parker.DebugValue());
}

}  // namespace umcg_rpc::runtime::internal
