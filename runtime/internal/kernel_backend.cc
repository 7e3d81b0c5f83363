#include "runtime/internal/kernel_backend.h"

#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "kernel/include/uapi/linux/umcg.h"
#include "runtime/internal/signals.h"
#include "runtime/internal/umcg_task_ops.h"

namespace umcg_rpc::runtime::internal {
namespace {

// The struct umcg_task the calling thread registered through a
// KernelBackend, or nullptr: lets UnparkServer() use umcg_wait(WAKE_ONLY)
// instead of a signal.
thread_local struct umcg_task* tls_registered = nullptr;

// A thread outside the runtime (a gRPC completion-queue thread calling
// Submit, a thread notifying an event a worker waits on, the monitor
// expiring a wait's timer) that must wake idle servers registers once as a UMCG
// server that never waits: registered threads may call umcg_wait(WAKE_ONLY),
// one syscall, where anyone else must send a signal. Unregistered when the
// thread exits (the kernel would do it too; the struct dies with the
// thread's TLS).
class Waker {
 public:
  ~Waker() {
    if (registered_) syscall(nr_ctl_, UMCG_CTL_UNREGISTER, nullptr);
  }
  // The calling thread's struct, registering it on first use; nullptr if
  // it cannot be registered (it is a UMCG thread of someone else: EBUSY).
  struct umcg_task* Get(int64_t nr_ctl) {
    if (!tried_) {
      tried_ = true;
      slot_.task = {};
      slot_.task.state = UMCG_TASK_RUNNING;
      registered_ = syscall(nr_ctl, UMCG_CTL_REGISTER, &slot_.task) == 0;
      nr_ctl_ = nr_ctl;
    }
    return registered_ ? &slot_.task : nullptr;
  }
  // Unregisters the calling thread if Get() registered it, so that it can
  // register as a server or worker of ours (a worker's on_worker_start
  // hook may have submitted a task, and so registered it, before
  // AttachWorker()).
  void Release() {
    if (registered_) syscall(nr_ctl_, UMCG_CTL_UNREGISTER, nullptr);
    registered_ = false;
    tried_ = false;
  }

 private:
  UmcgSlot<Waker> slot_;
  int64_t nr_ctl_ = -1;
  bool tried_ = false;
  bool registered_ = false;
};
thread_local Waker tls_waker;

// The kernel refused something the protocol guarantees: a bug here or in
// the kernel. Continuing would lose or duplicate work, so stop loudly.
[[noreturn]] void Fatal(const char* what, int err) {
  std::fprintf(stderr, "umcg-rpc runtime: kernel backend: %s: %s\n", what,
               std::generic_category().message(err).c_str());
  std::abort();
}

// The task at `address`: the kernel ABI links the idle list by address,
// in __u64 words.
inline struct umcg_task* TaskAt(__u64 address) {
  // NOLINTNEXTLINE(performance-no-int-to-ptr)
  return reinterpret_cast<struct umcg_task*>(address);
}

// Pause instruction for short spins on a link the kernel is writing.
inline void CpuRelax() { __builtin_ia32_pause(); }

// Reads one decimal number from a sysfs file.
absl::StatusOr<int64_t> ReadNumber(const char* path) {
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) {
    const int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    }
    return absl::UnavailableError(absl::StrCat(
        "cannot open ", path, ": ", std::generic_category().message(err)));
  }
  char buf[32] = {};
  const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  int64_t value = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::string_view(buf, n)),
                        &value)) {
    return absl::DataLossError(absl::StrCat(path, ": not a number"));
  }
  return value;
}

// A state word's state and flags as text (timestamp left out), into a
// buffer of at least 32 bytes; returns `buf`.
const char* StateText(__u64 word, char* buf, size_t size) {
  const char* state = "?";
  switch (StateOf(word)) {
    case UMCG_TASK_NONE:
      state = "NONE";
      break;
    case UMCG_TASK_RUNNING:
      state = "RUNNING";
      break;
    case UMCG_TASK_IDLE:
      state = "IDLE";
      break;
    case UMCG_TASK_BLOCKED:
      state = "BLOCKED";
      break;
    default:
      break;
  }
  std::snprintf(buf, size, "%s%s%s", state,
                (word & UMCG_TF_LOCKED) != 0 ? "|LOCKED" : "",
                (word & UMCG_TF_PREEMPTED) != 0 ? "|PREEMPTED" : "");
  return buf;
}

}  // namespace

absl::StatusOr<UmcgSyscalls> DiscoverUmcg() {
  absl::StatusOr<int64_t> abi = ReadNumber(UMCG_SYSFS_ABI_VERSION);
  if (!abi.ok()) {
    if (absl::IsNotFound(abi.status())) {
      return absl::NotFoundError(absl::StrCat(
          UMCG_SYSFS_ABI_VERSION,
          " is absent: this kernel has no UMCG (not the patched kernel)"));
    }
    return abi.status();
  }
  if (*abi != UMCG_ABI_VERSION) {
    return absl::FailedPreconditionError(
        absl::StrCat("kernel UMCG ABI version ", *abi, ", runtime built for ",
                     UMCG_ABI_VERSION));
  }
  UmcgSyscalls nr;
  absl::StatusOr<int64_t> ctl = ReadNumber(UMCG_SYSFS_NR_UMCG_CTL);
  if (!ctl.ok()) return ctl.status();
  absl::StatusOr<int64_t> wait = ReadNumber(UMCG_SYSFS_NR_UMCG_WAIT);
  if (!wait.ok()) return wait.status();
  nr.nr_umcg_ctl = *ctl;
  nr.nr_umcg_wait = *wait;
  return nr;
}

absl::Status ProbeKernelUmcg() { return DiscoverUmcg().status(); }

absl::StatusOr<std::unique_ptr<KernelBackend>> KernelBackend::Create(
    int signal, void (*handler)(int)) {
  absl::StatusOr<UmcgSyscalls> nr = DiscoverUmcg();
  if (!nr.ok()) return nr.status();
  absl::Status installed = InstallSignalHandler(signal, handler);
  if (!installed.ok()) return installed;
  return std::unique_ptr<KernelBackend>(new KernelBackend(*nr, signal));
}

absl::StatusOr<std::unique_ptr<Backend>> CreateKernelBackend(
    int signal, void (*handler)(int)) {
  absl::StatusOr<std::unique_ptr<KernelBackend>> b =
      KernelBackend::Create(signal, handler);
  if (!b.ok()) return b.status();
  return std::unique_ptr<Backend>(*std::move(b));
}

int64_t KernelBackend::Ctl(uint32_t flags, struct umcg_task* self) const {
  return syscall(nr_.nr_umcg_ctl, flags, self);
}

int64_t KernelBackend::Wait(uint32_t flags, uint64_t abs_timeout) const {
  return syscall(nr_.nr_umcg_wait, flags, abs_timeout);
}

absl::Status KernelBackend::AttachServer(Server& server) {
  UnblockSignal(signal_);
  tls_waker.Release();
  server.umcg.owner = &server;
  server.umcg.task = {};
  server.umcg.task.state = UMCG_TASK_RUNNING;
  if (Ctl(UMCG_CTL_REGISTER, &server.umcg.task) != 0) {
    return absl::InternalError(
        absl::StrCat("umcg_ctl(REGISTER) of a server: ",
                     std::generic_category().message(errno)));
  }
  tls_registered = &server.umcg.task;
  return absl::OkStatus();
}

void KernelBackend::DetachServer(Server& server) {
  Unpublish(static_cast<uint32_t>(server.tid.load(std::memory_order_relaxed)));
  Ctl(UMCG_CTL_UNREGISTER, nullptr);
  tls_registered = nullptr;
}

absl::Status KernelBackend::AttachWorker(Worker& worker) {
  UnblockSignal(signal_);
  tls_waker.Release();
  worker.umcg.owner = &worker;
  worker.umcg.task = {};
  worker.umcg.task.state = UMCG_TASK_RUNNING;
  worker.umcg.task.idle_workers_ptr = reinterpret_cast<uintptr_t>(&idle_head_);
  worker.umcg.task.idle_server_tid_ptr =
      reinterpret_cast<uintptr_t>(&idle_server_);
  tls_registered = &worker.umcg.task;
  // Puts us on the idle-worker list and returns once a server ran us.
  if (Ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, &worker.umcg.task) != 0) {
    const int err = errno;
    tls_registered = nullptr;
    return absl::InternalError(absl::StrCat(
        "umcg_ctl(REGISTER|WORKER): ", std::generic_category().message(err)));
  }
  return absl::OkStatus();
}

void KernelBackend::DetachWorker(Worker&) {
  // Wakes our server (server_tid), which the core has already released.
  Ctl(UMCG_CTL_UNREGISTER, nullptr);
  tls_registered = nullptr;
}

void KernelBackend::ServerSwitch(Server& server, uint32_t tid) {
  struct umcg_task& self = server.umcg.task;
  while (true) {
    SetOwnIdle(self);
    Word32(self.next_tid).store(tid, std::memory_order_relaxed);
    if (Wait(0, 0) == 0) return;
    switch (errno) {
      case EINTR:
        // A late UnparkServer() signal ended our wait; the target was
        // woken before the wait began.
        return;
      case EAGAIN:
        // The target is not IDLE yet: it is on its way into umcg_wait()
        // (it was queued by a server before it got there). Our own state
        // is still IDLE unless a late waker made it RUNNING; either way
        // it must be RUNNING before we retry.
        ClaimIdle(self);
        sched_yield();
        break;
      case EINVAL:
        // Made RUNNING by a late waker between SetOwnIdle() and the call:
        // nothing happened, try again.
        if (StateOf(LoadState(self)) == UMCG_TASK_IDLE) {
          Fatal("umcg_wait(switch) refused an IDLE server", EINVAL);
        }
        break;
      default:
        Fatal("umcg_wait(switch)", errno);
    }
  }
}

Worker* KernelBackend::SwitchTo(Server& server, Worker& worker) {
  ServerSwitch(server, static_cast<uint32_t>(
                           worker.tid.load(std::memory_order_relaxed)));
  return AwaitWorker(server);
}

Worker* KernelBackend::AwaitWorker(Server& server) {
  struct umcg_task& self = server.umcg.task;
  while (true) {
    // Workers store server.current before they touch their own state, so
    // reading the state and then current again tells a hand-back from an
    // involuntary stop.
    Worker* cur = server.current.load(std::memory_order_seq_cst);
    if (cur == nullptr) return nullptr;
    if (StateOf(LoadState(cur->umcg.task)) != UMCG_TASK_RUNNING) {
      if (server.current.load(std::memory_order_seq_cst) != cur) continue;
      return cur;  // Blocked, preempted or exited: the kernel took the CPU.
    }
    // Woken while `cur` still runs: a stale idle-server slot or a late
    // UnparkServer(). Wait again. IDLE first, then re-check: the kernel
    // moves a worker RUNNING -> BLOCKED (full barrier) before it reads our
    // state to wake us, and we publish IDLE (full barrier) before reading
    // the worker's state, so either we see it stopped or it wakes us.
    SetOwnIdle(self);
    if (server.current.load(std::memory_order_seq_cst) != cur ||
        StateOf(LoadState(cur->umcg.task)) != UMCG_TASK_RUNNING) {
      ClaimIdle(self);
      continue;
    }
    Word32(self.next_tid).store(0, std::memory_order_relaxed);
    if (Wait(0, 0) != 0 && errno != EINTR && errno != EINVAL) {
      Fatal("umcg_wait(server)", errno);
    }
  }
}

void KernelBackend::LeaveCpu(Worker& self, Server& server) {
  // Always to the server, never to a worker (see the class comment: a
  // worker may be claimed by another server between making itself IDLE and
  // entering umcg_wait(); had it named a worker as next_tid, that worker
  // could inherit the wrong server).
  struct umcg_task& me = self.umcg.task;
  const uint32_t server_tid =
      static_cast<uint32_t>(server.tid.load(std::memory_order_relaxed));
  while (true) {
    SetOwnIdle(me);
    Word32(me.next_tid).store(server_tid, std::memory_order_relaxed);
    if (Wait(0, 0) == 0) break;  // A server ran us again.
    const int err = errno;
    if (err != EAGAIN && err != EINVAL) Fatal("umcg_wait(worker)", err);
    // EAGAIN: our server is awake (a spurious wake-up); it will see
    // server.current == nullptr on its own. EINVAL: a server claimed us
    // before we entered umcg_wait(). If we are still IDLE nobody ran us:
    // go back to RUNNING and try again; otherwise we run for whoever
    // claimed us (the core marked us kRunning on its CPU first).
    if (!ClaimIdle(me)) break;
    if (err == EINVAL) Fatal("umcg_wait refused an IDLE worker", err);
    // SetOwnIdle() dropped LOCKED: until the retry, a block the kernel
    // reported would make a worker that is in no queue runnable twice.
    if (self.no_preempt.load(std::memory_order_relaxed) > 0) {
      EnterCritical(self);
    }
    sched_yield();
  }
  if (self.no_preempt.load(std::memory_order_relaxed) > 0) EnterCritical(self);
}

void KernelBackend::WakeDispatched(Worker&) {
  // A worker runs only where a server switched to it: no lazily idle slots.
  Fatal("WakeDispatched is a fallback-only operation", EINVAL);
}

void KernelBackend::NotifyReleased(Server&) {
  Fatal("NotifyReleased is a fallback-only operation", EINVAL);
}

void KernelBackend::WaitForDispatch(Worker& worker) {
  // Every path that gives up the CPU returns only once dispatched again.
  if (worker.state.load(std::memory_order_acquire) != WorkerState::kRunning) {
    Fatal("worker resumed without a dispatch", EINVAL);
  }
}

bool KernelBackend::WaitForDispatchUnless(Worker& worker,
                                          const std::atomic<bool>&) {
  // A kernel worker waits inside the kernel and comes back only once
  // dispatched: nothing else can end the wait.
  WaitForDispatch(worker);
  return true;
}

void KernelBackend::Unpublish(uint32_t tid) {
  __u32 expected = tid;
  Word32(idle_server_)
      .compare_exchange_strong(expected, 0, std::memory_order_seq_cst);
}

void KernelBackend::PublishIdleServer(Server& server) {
  __u32 expected = 0;
  Word32(idle_server_)
      .compare_exchange_strong(
          expected,
          static_cast<uint32_t>(server.tid.load(std::memory_order_relaxed)),
          std::memory_order_seq_cst);
}

struct umcg_task* KernelBackend::WakerTask() const {
  if (tls_registered != nullptr) return tls_registered;
  return tls_waker.Get(nr_.nr_umcg_ctl);
}

bool KernelBackend::PrepareDirectStart() { return WakerTask() != nullptr; }

bool KernelBackend::StartOnParkedServer(Server& server, Worker& worker) {
  struct umcg_task* self = WakerTask();
  if (self == nullptr) return false;
  struct umcg_task& target = worker.umcg.task;
  // A worker the core pooled may still be on its way into umcg_wait(), or
  // retrying it after an EAGAIN (RUNNING again; see LeaveCpu()): only an
  // IDLE one can be woken. Checked first so that such a worker's
  // server_tid is left alone in the common case.
  if (StateOf(LoadState(target)) != UMCG_TASK_IDLE) return false;
  const uint32_t server_tid =
      static_cast<uint32_t>(server.tid.load(std::memory_order_relaxed));
  // The server's thread must not sleep through its worker's first stop:
  // a kernel wake-up finds it only once it is IDLE in umcg_wait(). If it
  // is not asleep yet, this token makes its ParkServer() return, and it
  // then waits for the worker with the usual IDLE-then-re-check
  // (AwaitWorker()). seq_cst: ordered before the wake-up below, so a
  // ParkServer() that missed it had made the server IDLE before the worker
  // could run. (If it is asleep already, the token makes its next
  // ParkServer() return once, spuriously.)
  server.wake_token.store(1, std::memory_order_seq_cst);
  // The kernel's push should wake a server that is really idle.
  Unpublish(server_tid);
  // Whom the kernel wakes when the worker blocks, is preempted or exits,
  // and to whom its LeaveCpu() switches (Worker::server, set by the core).
  // Before the wake-up, whose IDLE -> RUNNING exchange (a full barrier)
  // publishes it with the state.
  Word32(target.server_tid).store(server_tid, std::memory_order_relaxed);
  Word32(self->next_tid)
      .store(static_cast<uint32_t>(worker.tid.load(std::memory_order_relaxed)),
             std::memory_order_relaxed);
  // EAGAIN: it went back to RUNNING after the check, to retry its
  // umcg_wait() (LeaveCpu()). Then the server switches to it itself, as
  // after a switch that got EAGAIN (ServerSwitch()), with server_tid
  // already naming it, as the kernel's own switch would have left it.
  // Any other error (EINVAL: this thread's registration is gone, as in a
  // forked child) leaves the switch to the server as well, whose
  // ServerSwitch() reports what the kernel refuses.
  return Wait(UMCG_WAIT_WAKE_ONLY, 0) == 0;
}

void KernelBackend::ParkServer(Server& server) {
  struct umcg_task& self = server.umcg.task;
  const uint32_t tid =
      static_cast<uint32_t>(server.tid.load(std::memory_order_relaxed));
  // IDLE before naming ourselves (umcg.rst, "Idle servers"): a kernel
  // wake-up that finds our tid then always finds us IDLE.
  SetOwnIdle(self);
  PublishIdleServer(server);
  // The state CAS and the slot CAS above are seq_cst read-modify-writes
  // (LOCK CMPXCHG, full barriers), so they are ordered before the loads of
  // the wake token and the head below. Pairs with the kernel's push, full
  // barrier, then read of the slot (umcg.h), and with UnparkServer()'s
  // token store before its state CAS: either they see us named and IDLE,
  // or we see their push or token.
  if (server.wake_token.exchange(0, std::memory_order_seq_cst) != 0 ||
      Word64(idle_head_).load(std::memory_order_seq_cst) != 0) {
    Unpublish(tid);
    ClaimIdle(self);  // Fails only if a waker made us RUNNING already.
    return;
  }
  Word32(self.next_tid).store(0, std::memory_order_relaxed);
  // 0: woken; EINTR: an UnparkServer() signal; EINVAL: made RUNNING
  // before we slept. The kernel leaves us RUNNING in every case.
  if (Wait(0, 0) != 0 && errno != EINTR && errno != EINVAL) {
    Fatal("umcg_wait(idle server)", errno);
  }
  Unpublish(tid);
}

void KernelBackend::UnparkServer(Server& server) {
  server.wake_token.store(1, std::memory_order_seq_cst);
  const uint32_t tid =
      static_cast<uint32_t>(server.tid.load(std::memory_order_relaxed));
  struct umcg_task* self = WakerTask();
  if (self != nullptr) {
    // A UMCG thread: the kernel moves the server IDLE -> RUNNING and
    // wakes it. EAGAIN (not IDLE: awake, or not parked yet, and then it
    // sees the token) and ESRCH (exited) need nothing more.
    Word32(self->next_tid).store(tid, std::memory_order_relaxed);
    Wait(UMCG_WAIT_WAKE_ONLY, 0);
    return;
  }
  // A thread that is somebody else's UMCG thread cannot use umcg_wait()
  // for us: make the server RUNNING ourselves (its wait loop then ends)
  // and interrupt its sleep with the signal. If it is not IDLE it sees
  // the token before it sleeps.
  if (ClaimIdle(server.umcg.task)) {
    syscall(SYS_tgkill, getpid(), static_cast<pid_t>(tid), signal_);
  }
}

int KernelBackend::DrainRunnable(absl::FunctionRef<void(Worker&)> sink) {
  std::atomic_ref<__u64> head = Word64(idle_head_);
  if (head.load(std::memory_order_acquire) == UMCG_IDLE_NODE_END) return 0;
  // Detach the whole list (the only removal the protocol allows), then
  // reverse it privately: the kernel pushes LIFO, we want FIFO.
  __u64 node = head.exchange(UMCG_IDLE_NODE_END, std::memory_order_acq_rel);
  struct umcg_task* fifo = nullptr;
  while (node != UMCG_IDLE_NODE_END) {
    struct umcg_task* t = TaskAt(node);
    __u64 next;
    // PENDING: the kernel has published the node but not yet its link.
    while ((next = Word64(t->idle_next).load(std::memory_order_acquire)) ==
           UMCG_IDLE_NODE_PENDING) {
      CpuRelax();
    }
    // The node is off the list now: the link is ours to reuse.
    Word64(t->idle_next)
        .store(reinterpret_cast<uintptr_t>(fifo), std::memory_order_relaxed);
    fifo = t;
    node = next;
  }
  int n = 0;
  while (fifo != nullptr) {
    struct umcg_task* next =
        TaskAt(Word64(fifo->idle_next).load(std::memory_order_relaxed));
    sink(*reinterpret_cast<UmcgSlot<Worker>*>(fifo)->owner);
    ++n;
    fifo = next;
  }
  return n;
}

bool KernelBackend::Interrupt(Worker& worker) {
  struct umcg_task& t = worker.umcg.task;
  __u64 w = LoadState(t);
  // Only a plainly RUNNING worker: not inside a runtime critical section
  // (LOCKED), not blocked, not already asked.
  if ((w & (UMCG_TASK_STATE_MASK | UMCG_TF_MASK)) != UMCG_TASK_RUNNING) {
    return false;
  }
  if (!CasState(t, w, UMCG_TASK_RUNNING | UMCG_TF_PREEMPTED)) return false;
  // The kernel acts on the flag at the worker's next return to user mode;
  // the signal makes that happen now.
  syscall(SYS_tgkill, getpid(), worker.tid.load(std::memory_order_relaxed),
          signal_);
  return true;
}

void KernelBackend::EnterCritical(Worker& worker) {
  Word64(worker.umcg.task.state)
      .fetch_or(UMCG_TF_LOCKED, std::memory_order_seq_cst);
}

void KernelBackend::ExitCritical(Worker& worker) {
  const __u64 old = Word64(worker.umcg.task.state)
                        .fetch_and(~UMCG_TF_LOCKED, std::memory_order_seq_cst);
  // A preemption requested just before we locked was delivered while the
  // kernel had to ignore it: raise it again now that we may be stopped.
  if ((old & UMCG_TF_PREEMPTED) != 0) {
    syscall(SYS_tgkill, getpid(), worker.tid.load(std::memory_order_relaxed),
            signal_);
  }
}

void KernelBackend::Describe(char* buf, size_t size) {
  const __u64 head = Word64(idle_head_).load(std::memory_order_acquire);
  std::snprintf(buf, size, "kernel idle list %s, idle-server slot tid %u",
                head == UMCG_IDLE_NODE_END ? "empty" : "non-empty",
                Word32(idle_server_).load(std::memory_order_acquire));
}

void KernelBackend::Describe(Server& server, char* buf, size_t size) {
  char state[32];
  std::snprintf(buf, size, "umcg=%s wake_token=%d",
                StateText(LoadState(server.umcg.task), state, sizeof(state)),
                server.wake_token.load(std::memory_order_relaxed));
}

void KernelBackend::Describe(Worker& worker, char* buf, size_t size) {
  char state[32];
  std::snprintf(
      buf, size, "umcg=%s umcg_server=%u",
      StateText(LoadState(worker.umcg.task), state, sizeof(state)),
      Word32(worker.umcg.task.server_tid).load(std::memory_order_relaxed));
}

}  // namespace umcg_rpc::runtime::internal
