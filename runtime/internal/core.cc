#include "runtime/internal/core.h"

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <system_error>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/futex_hash.h"
#include "runtime/internal/cancellation_count.h"
#include "runtime/internal/clock.h"
#include "runtime/internal/current.h"
#include "runtime/internal/fallback_backend.h"
#include "runtime/internal/kernel_backend.h"
#include "runtime/internal/thread_stack.h"
#include "runtime/internal/thread_stat.h"
#include "runtime/thread_policy.h"

namespace umcg_rpc::runtime::internal {
namespace {

int64_t ToNanos(absl::Duration d) { return absl::ToInt64Nanoseconds(d); }

// A broken scheduler invariant is a bug in this file: fail loudly.
void CheckInvariant(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "umcg-rpc runtime: invariant violated: %s\n", what);
    std::abort();
  }
}

// The CPUs this process may run on, in order.
std::vector<int> AllowedCpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int i = 0; i < CPU_SETSIZE; ++i) {
      if (CPU_ISSET(i, &set)) cpus.push_back(i);
    }
  }
  if (cpus.empty()) cpus.push_back(0);
  return cpus;
}

// Preemption signal entry point: forwards to the worker's core.
void PreemptHandler(int) {
  const int saved_errno = errno;
  Worker* w = CurrentWorker();
  if (w != nullptr && w->core != nullptr) w->core->OnPreemptSignal(*w);
  errno = saved_errno;
}

}  // namespace

NoPreemptScope::NoPreemptScope(Worker* w) : w_(w) {
  if (w_ != nullptr) w_->core->BeginNoPreempt(*w_);
}

NoPreemptScope::~NoPreemptScope() {
  if (w_ != nullptr) w_->core->EndNoPreempt(*w_);
}

Core::Core(Options options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Core>> Core::Create(Options options) {
  if (options.servers < 0) {
    return absl::InvalidArgumentError("servers must be >= 0");
  }
  if (options.max_workers < 1) {
    return absl::InvalidArgumentError("max_workers must be >= 1");
  }
  if (options.min_workers < 0 || options.min_workers > options.max_workers) {
    return absl::InvalidArgumentError(
        "min_workers must be in [0, max_workers]");
  }
  if (options.time_slice < absl::ZeroDuration() ||
      options.block_threshold < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "time_slice and block_threshold must be >= 0");
  }
  if (options.worker_stack_size < size_t{16} * 1024) {
    return absl::InvalidArgumentError("worker_stack_size must be >= 16 KiB");
  }
  std::unique_ptr<Core> core(new Core(std::move(options)));
  absl::Status status = core->Start();
  if (!status.ok()) return status;
  return core;
}

void Core::Log(absl::string_view message) const {
  if (options_.logger) {
    options_.logger(message);
  } else {
    std::fprintf(stderr, "umcg-rpc runtime: %.*s\n",
                 static_cast<int>(message.size()), message.data());
  }
}

absl::Status Core::Start() {
  // Runtime threads go SCHED_BATCH only under a SCHED_OTHER creator. A
  // real-time, idle or batch creator's policy is kept: its workers could
  // not always get a real-time policy back from a batch monitor, and batch
  // and idle threads do not preempt on wake-up anyway.
  const int policy = sched_getscheduler(0);
  if (policy < 0) {
    return absl::ErrnoToStatus(errno, "reading the scheduling policy");
  }
  batch_runtime_threads_ = options_.batch_runtime_threads &&
                           (policy & ~SCHED_RESET_ON_FORK) == SCHED_OTHER;
  // Backend choice.
  switch (options_.backend) {
    case BackendKind::kKernel: {
      absl::StatusOr<std::unique_ptr<Backend>> kernel =
          CreateKernelBackend(options_.preempt_signal, &PreemptHandler);
      if (!kernel.ok()) return kernel.status();
      backend_ = *std::move(kernel);
      backend_reason_ = "kernel backend requested";
      break;
    }
    case BackendKind::kAuto: {
      absl::Status probe = ProbeKernelUmcg();
      if (probe.ok()) {
        absl::StatusOr<std::unique_ptr<Backend>> kernel =
            CreateKernelBackend(options_.preempt_signal, &PreemptHandler);
        if (kernel.ok()) {
          backend_ = *std::move(kernel);
          backend_reason_ = "auto: kernel UMCG discovered and usable";
          break;
        }
        backend_reason_ =
            absl::StrCat("auto: kernel UMCG discovered but unusable (",
                         kernel.status().ToString(), "); using fallback");
      } else {
        backend_reason_ = absl::StrCat("auto: kernel UMCG not available (",
                                       probe.message(), "); using fallback");
      }
      [[fallthrough]];
    }
    case BackendKind::kFallback: {
      absl::StatusOr<std::unique_ptr<FallbackBackend>> fallback =
          FallbackBackend::Create(options_.preempt_signal, &PreemptHandler);
      if (!fallback.ok()) return fallback.status();
      backend_ = *std::move(fallback);
      if (backend_reason_.empty()) backend_reason_ = "fallback requested";
      break;
    }
  }
  Log(absl::StrCat("backend=", BackendKindName(backend_->kind()), " (",
                   backend_reason_, ")"));
  // Only the fallback's workers can be woken to trim (kernel-backend
  // workers wait inside the kernel).
  trim_stacks_ = options_.idle_stack_trim_delay > absl::ZeroDuration() &&
                 backend_->cooperative();
  if (trim_stacks_) idle_trim_ns_ = ToNanos(options_.idle_stack_trim_delay);

  const std::vector<int> cpus = AllowedCpus();
  const int n =
      options_.servers > 0 ? options_.servers : static_cast<int>(cpus.size());
  if (options_.size_futex_hash) {
    // Every worker, server, the monitor and the keeper may sleep on a
    // futex.
    absl::StatusOr<int> buckets =
        EnsureFutexHashBuckets(options_.max_workers + n + 2);
    if (buckets.ok()) {
      Log(*buckets > 0 ? absl::StrCat("futex hash: ", *buckets, " buckets")
                       : "futex hash: the kernel's global table");
    } else {
      Log(absl::StrCat("futex hash not sized: ", buckets.status().ToString()));
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    idle_servers_.reserve(n);
    idle_workers_.reserve(options_.max_workers);
    workers_.reserve(options_.max_workers);
    retiring_.reserve(options_.max_workers);
    retired_scratch_.reserve(options_.max_workers);
    trim_scratch_.reserve(options_.max_workers);
    timers_.Reserve(options_.max_workers);
    pending_spawns_ = options_.min_workers;
  }
  SpawnPendingWorkers();
  for (int i = 0; i < n; ++i) {
    auto s = std::make_unique<Server>();
    s->id = i;
    s->cpu = options_.pin_servers ? cpus[i % cpus.size()] : -1;
    servers_.push_back(std::move(s));
  }
  for (auto& s : servers_) {
    Server* raw = s.get();
    raw->thread = std::thread([this, raw] { ServerLoop(*raw); });
  }
  lost_scratch_.reserve(options_.max_workers);
  // The monitor first: ~Core() shuts down only if it runs (kicks sent to
  // the keeper before it starts are kept).
  monitor_ = std::thread([this] { MonitorLoop(); });
  keeper_ = std::thread([this] { KeeperLoop(); });
  return absl::OkStatus();
}

Core::~Core() {
  if (monitor_.joinable()) Shutdown(ShutdownMode::kCancel).IgnoreError();
}

// ---------------------------------------------------------------------------
// Submission and shutdown.

absl::StatusOr<TaskHandle> Core::Submit(Task task, TaskOptions options) {
  if (!task) return absl::InvalidArgumentError("Submit: empty task");
  // Allocated before the no-preemption section: on the kernel backend a
  // worker that blocks inside one (here, on malloc's lock held by a worker
  // that is waiting for a CPU) holds its CPU until it wakes up.
  auto t = std::make_shared<TaskState>();
  t->fn = std::move(task);
  t->options = std::move(options);
  t->enqueue_ns = MonotonicNanos();
  // Kernel backend: registers this thread to wake UMCG threads on first
  // use, before mu_ (registration may allocate).
  const bool may_start =
      !backend_->cooperative() && backend_->PrepareDirectStart();
  Server* wake = nullptr;
  {
    NoPreemptScope no_preempt(OwnWorker());
    std::lock_guard<std::mutex> lock(mu_);
    // While draining, in-flight tasks may still submit follow-up work.
    if (!accepting_ && !(draining_ && no_preempt.active())) {
      return not_accepting_;
    }
    if (options_.max_queued_tasks > 0 &&
        tasks_count_ >= options_.max_queued_tasks) {
      return queue_full_;
    }
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    submitted_.fetch_add(1, std::memory_order_relaxed);
    if (Worker* started = StartOnLazyIdleServerLocked(t)) {
      // Woken under mu_, unlike the server below: once mu_ is released the
      // worker may finish the task, pool itself and be retired and freed
      // (Shutdown, idle retirement) before this thread runs again. And
      // still inside the no-preemption section: a submitting worker
      // preempted in between would leave that CPU held by a sleeper.
      backend_->WakeDispatched(*started);
    } else if (may_start && HandToParkedServerLocked(t, &wake)) {
      // Started where an idle server sleeps, or handed to it (`wake`).
    } else {
      PushTaskLocked(t);
      wake = TakeIdleServerLocked();
    }
  }
  // Wake outside mu_: the syscall would lengthen the critical section.
  // (Servers live as long as the core.)
  if (wake != nullptr) backend_->UnparkServer(*wake);
  // A resting monitor saw no queued task under mu_ before this one was
  // pushed, so this load sees its flag (mu_ orders the two).
  if (mon_resting_.load(std::memory_order_relaxed)) WakeRestingMonitor();
  return TaskHandle(std::move(t));
}

absl::Status Core::Shutdown(ShutdownMode mode) {
  Worker* self = CurrentWorker();
  if (self != nullptr && self->core == this) {
    return absl::FailedPreconditionError(
        "Shutdown called from one of the scheduler's own workers");
  }
  std::lock_guard<std::mutex> serial(shutdown_mu_);
  TaskState* dropped = nullptr;
  // Running tasks to cancel, collected under mu_ into reserved storage and
  // cancelled after it is released: Cancel() takes the token's mutex,
  // which a preempted worker may hold.
  std::vector<std::shared_ptr<TaskState>> running;
  if (mode == ShutdownMode::kCancel) running.reserve(options_.max_workers);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) return absl::OkStatus();
    accepting_ = false;
    draining_ = mode == ShutdownMode::kDrain;
    if (mode == ShutdownMode::kCancel) {
      dropped = UnlinkTasksLocked([](const TaskState&) { return true; });
      pending_spawns_ = 0;  // Nothing is queued for them any more.
      for (auto& w : workers_) {
        if (w->task != nullptr) running.push_back(w->task);
      }
    }
  }
  for (const auto& t : running) t->options.cancellation.Cancel();
  running.clear();
  const absl::Status shut = absl::CancelledError("scheduler shut down");
  FailTaskList(dropped, &shut);
  // Wait for in-flight tasks. Polling keeps the hot paths free of a
  // shutdown condition variable; shutdown latency is not critical.
  while (in_flight_.load(std::memory_order_acquire) > 0) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  {
    // No task is left to want a worker: cancel spawns not started yet, so
    // that no thread (the keeper, or a worker helping it) creates more.
    std::lock_guard<std::mutex> lock(mu_);
    pending_spawns_ = 0;
  }
  if (!backend_->cooperative()) {
    // UMCG workers wait inside the kernel until a server runs them, so
    // they must exit while the servers still run: stop the monitor and
    // the keeper (no new workers), then retire every worker through the
    // servers.
    StopMonitorAndKeeper();
    RetireAllWorkersViaServers();
  }
  std::vector<Server*> wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    draining_ = false;
    exit_ = true;
    for (Server* s : idle_servers_) {
      UnidleLocked(*s);
      wake.push_back(s);
    }
    idle_servers_.clear();
  }
  for (Server* s : wake) backend_->UnparkServer(*s);
  for (auto& s : servers_) s->thread.join();
  if (backend_->cooperative()) {
    StopMonitorAndKeeper();
    // A worker still starting may be creating one it claimed earlier; all
    // must have registered before their threads are collected.
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (starting_ == 0) break;
      }
      absl::SleepFor(absl::Microseconds(100));
    }
    RetireIdleWorkers(/*all=*/true);
  }
  // Every thread is gone: what the keeper buried and no worker freed.
  EmptyGraveyard();
  std::lock_guard<std::mutex> lock(mu_);
  shut_down_ = true;
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Queues.

void Core::PushIdleLocked(Worker& w, bool wake_server) {
  CheckInvariant(!w.in_idle && !w.in_resumed, "worker queued twice (idle)");
  w.in_idle = true;
  w.state.store(WorkerState::kIdle, std::memory_order_release);
  w.idle_since_ns = MonotonicNanos();
  idle_workers_.push_back(&w);
  if (tasks_head_ == nullptr) spawn_batch_ = 0;  // No burst (any more).
  if (wake_server && tasks_head_ != nullptr) WakeIdleServerLocked();
}

void Core::PushTaskLocked(std::shared_ptr<TaskState> t) {
  TaskState* raw = t.get();
  raw->self = std::move(t);
  raw->next = nullptr;
  if (tasks_tail_ == nullptr) {
    tasks_head_ = raw;
  } else {
    tasks_tail_->next = raw;
  }
  tasks_tail_ = raw;
  ++tasks_count_;
  if (raw->has_deadline()) ++deadlined_tasks_;
  // Cancelled before this push: the count the sweep watches may already
  // have moved past its last look.
  if (raw->options.cancellation.IsCancelled()) cancelled_task_queued_ = true;
}

std::shared_ptr<TaskState> Core::PopTaskLocked() {
  TaskState* t = tasks_head_;
  if (t == nullptr) return nullptr;
  tasks_head_ = t->next;
  if (tasks_head_ == nullptr) tasks_tail_ = nullptr;
  t->next = nullptr;
  --tasks_count_;
  if (t->has_deadline()) --deadlined_tasks_;
  return std::move(t->self);
}

template <typename Pred>
TaskState* Core::UnlinkTasksLocked(Pred pred) {
  TaskState* out_head = nullptr;
  TaskState** out_tail = &out_head;
  TaskState** link = &tasks_head_;
  TaskState* prev = nullptr;
  while (*link != nullptr) {
    TaskState* t = *link;
    if (pred(*t)) {
      *link = t->next;
      --tasks_count_;
      if (t->has_deadline()) --deadlined_tasks_;
      t->next = nullptr;
      *out_tail = t;
      out_tail = &t->next;
    } else {
      prev = t;
      link = &t->next;
    }
  }
  tasks_tail_ = prev;
  return out_head;
}

void Core::FailTaskList(TaskState* head, const absl::Status* forced) {
  while (head != nullptr) {
    TaskState* next = head->next;
    head->next = nullptr;
    absl::Status status = forced != nullptr ? *forced : CheckStillWanted(*head);
    // Swept as expired, but the wall clock has stepped back since.
    if (status.ok()) status = expired_while_queued_;
    FailTask(*head, std::move(status));
    BuryTask(head);  // Still owned by head->self.
    head = next;
  }
}

void Core::BuryTask(TaskState* t) {
  TaskState* top = graveyard_.load(std::memory_order_relaxed);
  do {
    t->next = top;
  } while (!graveyard_.compare_exchange_weak(top, t, std::memory_order_release,
                                             std::memory_order_relaxed));
}

void Core::EmptyGraveyard() {
  TaskState* t = graveyard_.exchange(nullptr, std::memory_order_acquire);
  while (t != nullptr) {
    TaskState* next = t->next;
    t->next = nullptr;
    t->fn = nullptr;
    std::shared_ptr<TaskState> last = std::move(t->self);  // May free `t`.
    t = next;
  }
}

void Core::PushResumedLocked(Worker& w, bool wake_server) {
  CheckInvariant(!w.in_idle && !w.in_resumed, "worker queued twice (resumed)");
  w.in_resumed = true;
  w.next = nullptr;
  if (resumed_tail_ == nullptr) {
    resumed_head_ = &w;
  } else {
    resumed_tail_->next = &w;
  }
  resumed_tail_ = &w;
  ++resumed_count_;
  if (wake_server) WakeIdleServerLocked();
}

Worker* Core::PopResumedLocked() {
  Worker* w = resumed_head_;
  if (w == nullptr) return nullptr;
  w->in_resumed = false;
  w->woken = false;
  resumed_head_ = w->next;
  if (resumed_head_ == nullptr) resumed_tail_ = nullptr;
  w->next = nullptr;
  --resumed_count_;
  return w;
}

Server* Core::TakeIdleServerLocked() {
  if (idle_servers_.empty()) return nullptr;
  Server* s = idle_servers_.back();
  idle_servers_.pop_back();
  UnidleLocked(*s);
  return s;
}

void Core::UnidleLocked(Server& s) {
  s.idle = false;
  if (!s.lazy_idle) return;
  s.lazy_idle = false;
  // Lets its thread leave SwitchTo() once woken.
  s.current.store(nullptr, std::memory_order_release);
}

Server* Core::ClaimLazyIdleServerLocked() {
  // Only if the claimer is next in line anyway: nothing else runnable (no
  // older woken worker, no task that an idle worker could start).
  if (exit_ || RunnableWorkLocked()) return nullptr;
  auto it = std::find_if(idle_servers_.begin(), idle_servers_.end(),
                         [](const Server* s) { return s->lazy_idle; });
  if (it == idle_servers_.end()) return nullptr;
  Server* s = *it;
  idle_servers_.erase(it);
  // `current` stays the marker until the claimer's MarkRunning(), so the
  // thread keeps waiting in SwitchTo() throughout.
  s->idle = false;
  s->lazy_idle = false;
  return s;
}

Worker* Core::StartOnLazyIdleServerLocked(const std::shared_ptr<TaskState>& t) {
  // Only when the task would be next anyway: nothing queued before it, no
  // woken worker waiting, and an idle worker to run it.
  if (tasks_head_ != nullptr || idle_workers_.empty()) return nullptr;
  Server* s = ClaimLazyIdleServerLocked();
  if (s == nullptr) return nullptr;
  Worker* w = TakeIdleWorkerLocked();
  w->runnable_since_ns = t->enqueue_ns;
  w->task = t;  // A reference more: no allocation under mu_.
  MarkRunning(*s, *w);
  direct_dispatches_.fetch_add(1, std::memory_order_relaxed);
  return w;
}

bool Core::HandToParkedServerLocked(const std::shared_ptr<TaskState>& t,
                                    Server** wake) {
  if (idle_workers_.empty()) return false;
  Server* s = TakeParkedServerLocked();
  if (s == nullptr) return false;
  Worker* w = TakeIdleWorkerLocked();
  w->runnable_since_ns = t->enqueue_ns;
  w->task = t;  // A reference more: no allocation under mu_.
  if (StartOnParkedServerLocked(*s, *w, wake)) {
    direct_dispatches_.fetch_add(1, std::memory_order_relaxed);
  }
  return true;
}

Server* Core::TakeParkedServerLocked() {
  if (exit_ || tasks_head_ != nullptr || idle_servers_.empty()) {
    return nullptr;
  }
  // Workers the kernel made runnable go first (PickNextLocked()).
  DrainKernelLocked();
  if (resumed_head_ != nullptr) return nullptr;
  return TakeIdleServerLocked();
}

bool Core::StartOnParkedServerLocked(Server& s, Worker& w, Server** wake) {
  MarkRunning(s, w);
  s.handed = &w;
  // Under mu_, so that the thread, which needs mu_ to find `handed`, finds
  // the worker already running: any state but RUNNING then means that it
  // stopped (AwaitWorker()), never that it has not started.
  s.handed_started = backend_->StartOnParkedServer(s, w);
  // It took `s` out of the kernel's idle-server slot: name another.
  if (!idle_servers_.empty()) {
    backend_->PublishIdleServer(*idle_servers_.back());
  }
  if (!s.handed_started) *wake = &s;
  return s.handed_started;
}

Worker* Core::TakeIdleWorkerLocked() {
  // The idle pool is a stack: the worker that finished last, whose stack
  // and cache lines are the warmest, runs the next task.
  Worker* w = idle_workers_.back();
  idle_workers_.pop_back();
  trim_frontier_ = std::min(trim_frontier_, idle_workers_.size());
  w->in_idle = false;
  return w;
}

void Core::WakeIdleServerLocked() {
  if (Server* s = TakeIdleServerLocked()) backend_->UnparkServer(*s);
}

void Core::ListIdleServerLocked(Server& s) {
  s.idle = true;
  idle_servers_.push_back(&s);
}

void Core::ListLazilyIdleLocked(Server& s, Worker& from, ReleaseReason reason) {
  // current becomes the marker, not nullptr: the thread must not leave
  // SwitchTo() on a stale wake-up, or a worker claiming this CPU
  // (ExitBlocking) would race with it.
  MarkReleased(s, from, reason, &lazy_idle_marker_);
  ListIdleServerLocked(s);
  s.lazy_idle = true;
}

void Core::UnlistIdleServerLocked(Server& s) {
  idle_servers_.erase(
      std::find(idle_servers_.begin(), idle_servers_.end(), &s));
  UnidleLocked(s);
}

bool Core::RunnableWorkLocked() const {
  return resumed_head_ != nullptr ||
         (tasks_head_ != nullptr && !idle_workers_.empty());
}

Server* Core::TakeIdleServerIfWorkLocked() {
  return RunnableWorkLocked() ? TakeIdleServerLocked() : nullptr;
}

std::unique_ptr<Worker> Core::TakeWorkerLocked(Worker* w) {
  auto it = std::find_if(workers_.begin(), workers_.end(),
                         [w](const auto& p) { return p.get() == w; });
  CheckInvariant(it != workers_.end(), "worker not owned by the core");
  std::unique_ptr<Worker> owned = std::move(*it);
  workers_.erase(it);
  return owned;
}

Worker* Core::OwnWorker() const {
  Worker* self = CurrentWorker();
  return self != nullptr && self->core == this ? self : nullptr;
}

void Core::DrainKernelLocked() {
  backend_->DrainRunnable([this](Worker& w) { OnKernelRunnableLocked(w); });
}

void Core::OnKernelRunnableLocked(Worker& w) {
  switch (w.state.load(std::memory_order_relaxed)) {
    case WorkerState::kIdle:
      // Registration: a new worker's first trip through the idle list.
      CountRegisteredLocked(w);
      PushIdleLocked(w, /*wake_server=*/false);
      return;
    case WorkerState::kBlocked:
      // Its server saw it stop; now its block (or preemption) is over.
      CountBlockEndLocked(w);
      w.state.store(WorkerState::kRunnable, std::memory_order_relaxed);
      PushResumedLocked(w, /*wake_server=*/false);
      return;
    case WorkerState::kRunning:
      // Back before its server processed the stop: the server queues it.
      w.state.store(WorkerState::kReturned, std::memory_order_relaxed);
      return;
    default:
      CheckInvariant(false,
                     "kernel idle list returned a worker in a "
                     "state it cannot be in");
  }
}

void Core::OnKernelStopLocked(Server& s, Worker& w) {
  CheckInvariant(s.current.load(std::memory_order_relaxed) == &w,
                 "kernel stopped a worker its server does not hold");
  s.current.store(nullptr, std::memory_order_relaxed);
  running_.fetch_sub(1, std::memory_order_acq_rel);
  blocks_.fetch_add(1, std::memory_order_relaxed);
  const WorkerState state = w.state.load(std::memory_order_relaxed);
  if (state == WorkerState::kRunning) {
    blocked_.fetch_add(1, std::memory_order_relaxed);
    w.state.store(WorkerState::kBlocked, std::memory_order_relaxed);
    return;
  }
  CheckInvariant(state == WorkerState::kReturned,
                 "kernel stopped a worker that was not running");
  wakes_.fetch_add(1, std::memory_order_relaxed);
  w.state.store(WorkerState::kRunnable, std::memory_order_relaxed);
  w.runnable_since_ns = MonotonicNanos();
  PushResumedLocked(w, /*wake_server=*/false);
}

void Core::OnReleasedLocked(Server& s) {
  Worker* w = s.released.exchange(nullptr, std::memory_order_acq_rel);
  if (w == nullptr) return;
  switch (s.reason.load(std::memory_order_relaxed)) {
    case ReleaseReason::kDone:
      PushIdleLocked(*w, /*wake_server=*/false);
      return;
    case ReleaseReason::kYield:
      PushResumedLocked(*w, /*wake_server=*/false);
      return;
    case ReleaseReason::kExit:
      return;
    case ReleaseReason::kSuspended: {
      // `w` gave the CPU back (it is in umcg_wait(), or about to retry it
      // after a spurious wake-up of ours, as a yield may): from here on
      // whoever ends its wait may queue it; if that already happened, we
      // queue it.
      CheckInvariant(w->suspension != nullptr,
                     "suspended worker without its suspension");
      Suspension& wait = *w->suspension;
      // Kicked here, not by the worker: a LOCKED worker must not wait for
      // mon_mu_, whose holder may be a preempted worker.
      if (wait.kick_monitor) KickMonitor();
      if (wait.ended) {
        w->suspension = nullptr;
        EndBlockLocked(*w, /*may_claim=*/false, /*wake=*/nullptr);
      } else {
        wait.off_cpu = true;
      }
      return;
    }
    default:
      CheckInvariant(false, "kernel backend: unexpected release reason");
  }
}

void Core::RequestSpawnLocked() {
  // The next to run is a queued task and no worker is idle (see
  // PickNextLocked()). Normally that takes one new worker per server. If
  // the previous batch has already arrived and been used up while tasks
  // still wait, and at least as many workers are blocked, this is a burst
  // of blocking calls: double the batch, so that threads are created back
  // to back instead of a few per wake-up. (Tasks that queue only for a CPU
  // do not double it.) PushIdleLocked() ends the burst when a worker finds
  // no task. Each request is bounded by the queued tasks, and idle workers
  // retire.
  constexpr int kMaxSpawnBatch = 256;
  if (pending_spawns_ == 0 && starting_ == 0) {
    if (spawn_batch_ == 0) {
      spawn_batch_ = static_cast<int>(servers_.size());
    } else if (blocked_.load(std::memory_order_relaxed) >= spawn_batch_) {
      spawn_batch_ = std::min(spawn_batch_ * 2, kMaxSpawnBatch);
    }
  }
  const int total = static_cast<int>(workers_.size()) + pending_spawns_;
  const int want = std::min<int>(static_cast<int>(tasks_count_), spawn_batch_);
  const int n = std::min(want - pending_spawns_ - starting_,
                         options_.max_workers - total);
  if (n <= 0) return;
  pending_spawns_ += n;
  KickKeeper(/*retire=*/false);
}

// ---------------------------------------------------------------------------
// Server side.

void Core::ServerLoop(Server& s) {
  // Names show in top -H, perf and /proc (15 characters at most).
  pthread_setname_np(pthread_self(),
                     absl::StrCat("umcg-server-", s.id).c_str());
  if (s.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(s.cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
      Log(absl::StrCat("server ", s.id, ": cannot pin to cpu ", s.cpu));
    }
  }
  s.tid.store(static_cast<pid_t>(syscall(SYS_gettid)),
              std::memory_order_relaxed);
  // Fallback only: a kernel-backend server must run as soon as the kernel
  // wakes it (a worker blocked and left the CPU to it).
  if (batch_runtime_threads_ && backend_->cooperative()) {
    if (absl::Status batch = UseBatchPolicy(pthread_self()); !batch.ok()) {
      Log(absl::StrCat("server ", s.id, ": ", batch.ToString()));
    }
  }
  absl::Status attached = backend_->AttachServer(s);
  if (!attached.ok()) {
    Log(absl::StrCat("server ", s.id, ": ", attached.ToString()));
    return;
  }
  Worker* stopped = nullptr;  // Kernel backend: taken off the CPU.
  while (true) {
    // Nothing on this path allocates, frees or takes a lock that task code
    // could hold while preempted (see docs/runtime.md).
    Worker* w = nullptr;
    RunMode mode = RunMode::kDispatch;
    Server* also = nullptr;
    std::unique_lock<std::mutex> next_lock(mu_);
    if (!backend_->cooperative()) {
      // The kernel backend queues workers that left this CPU here, once
      // they are inside umcg_wait() (see KernelBackend).
      if (stopped != nullptr) {
        OnKernelStopLocked(s, *stopped);
      } else {
        OnReleasedLocked(s);
      }
    } else if (s.idle) {
      // Our last worker listed this CPU as idle (HandOff) and nobody has
      // taken it yet; we are scheduling on it ourselves now.
      UnlistIdleServerLocked(s);
    }
    const bool more = NextLocked(s, &w, &mode, next_lock);
    // Woken after mu_ is released (Dispatch()).
    if (more && backend_->cooperative()) {
      w->wakes_due.fetch_add(1, std::memory_order_relaxed);
    }
    // More runnable work than this CPU: let an idle server take some.
    if (more) also = TakeIdleServerIfWorkLocked();
    next_lock.unlock();
    if (also != nullptr) backend_->UnparkServer(*also);
    if (!more) break;
    switch (mode) {
      case RunMode::kDispatch:
        stopped = Dispatch(s, *w);
        break;
      case RunMode::kSwitch:
        stopped = backend_->SwitchTo(s, *w);
        break;
      case RunMode::kAwait:
        stopped = backend_->AwaitWorker(s);
        break;
    }
    // Fallback: workers hand the CPU to each other directly; the server
    // thread only wakes when the last of them left nothing runnable, or
    // was preempted or lost (those cannot take mu_ themselves).
    if (backend_->cooperative()) RequeueIfPreempted(s);
  }
  backend_->DetachServer(s);
}

void Core::RequeueIfPreempted(Server& s) {
  if (s.reason.load(std::memory_order_acquire) != ReleaseReason::kPreempted) {
    return;
  }
  Worker* p = s.released.load(std::memory_order_acquire);
  p->state.store(WorkerState::kRunnable, std::memory_order_relaxed);
  p->runnable_since_ns = MonotonicNanos();
  std::lock_guard<std::mutex> lock(mu_);
  PushResumedLocked(*p);
}

bool Core::ResumedGoesFirstLocked() const {
  if (resumed_head_ == nullptr) return false;
  if (tasks_head_ == nullptr || resumed_head_->woken) return true;
  return resumed_head_->runnable_since_ns <= tasks_head_->enqueue_ns;
}

Worker* Core::PickNextLocked() {
  if (!backend_->cooperative()) DrainKernelLocked();
  if (!timers_.empty()) ExpireDueTimersLocked();
  // Calls already started first: a worker whose block is over (fallback)
  // runs before any queued task. Otherwise one FIFO over both queues:
  // whichever head has waited longer goes first (a preempted or yielding
  // worker queues behind older tasks). Starting new calls while started
  // ones wait for a CPU only adds calls in flight, each holding a worker:
  // under overload (W2 natively) that grew to a thousand workers, whose
  // creation and stacks cost CPU that the calls needed.
  const bool resumed_first = ResumedGoesFirstLocked();
  const bool task_ready = tasks_head_ != nullptr && !idle_workers_.empty();
  // A new worker only when the next to run is a task and none is idle.
  if (tasks_head_ != nullptr && idle_workers_.empty() && !resumed_first) {
    RequestSpawnLocked();
  }
  // Without an idle worker for the task, a waiting worker runs meanwhile.
  if (resumed_head_ != nullptr && (resumed_first || !task_ready)) {
    return PopResumedLocked();
  }
  if (!task_ready) return nullptr;
  Worker* w = TakeIdleWorkerLocked();
  w->runnable_since_ns = tasks_head_->enqueue_ns;
  w->task = PopTaskLocked();
  return w;
}

bool Core::NextLocked(Server& s, Worker** w, RunMode* mode,
                      std::unique_lock<std::mutex>& lock) {
  while (true) {
    if (s.handed != nullptr) {
      // Kernel backend: Submit ran a worker here while we were parked
      // (HandToParkedServerLocked()). We may have been woken through the
      // kernel's idle-server slot meanwhile: drain, so that our caller
      // lets another idle server take what it found.
      *w = s.handed;
      *mode = s.handed_started ? RunMode::kAwait : RunMode::kSwitch;
      s.handed = nullptr;
      DrainKernelLocked();
      return true;
    }
    *mode = RunMode::kDispatch;
    *w = PickNextLocked();
    if (*w != nullptr) return true;
    if (exit_) return false;
    ListIdleServerLocked(s);
    // Park until popped from idle_servers_: a token left over from an
    // earlier release must not make us leave while still listed as idle.
    while (s.idle) {
      lock.unlock();
      backend_->ParkServer(s);
      lock.lock();
      if (!s.idle || backend_->cooperative()) continue;
      // Kernel backend: woken by the kernel (a worker became runnable) or
      // spuriously. The kernel took our tid out of its idle-server slot:
      // name another idle server first, then drain, so that no push
      // between the two goes unnoticed.
      for (Server* other : idle_servers_) {
        if (other != &s) {
          backend_->PublishIdleServer(*other);
          break;
        }
      }
      DrainKernelLocked();
      if (RunnableWorkLocked()) {
        UnlistIdleServerLocked(s);
      }
    }
  }
}

void Core::MarkRunning(Server& s, Worker& w) {
  CheckInvariant(
      w.state.load(std::memory_order_relaxed) != WorkerState::kRunning,
      "dispatching a worker that is already RUNNING");
  RecordDelay(w.runnable_since_ns);
  w.server.store(&s, std::memory_order_relaxed);
  w.dispatch_ns.store(MonotonicNanos(), std::memory_order_relaxed);
  w.dispatch_seq.fetch_add(1, std::memory_order_relaxed);
  s.current.store(&w, std::memory_order_release);
  // seq_cst, with the load below: paired with BeginRest(), so that either
  // the monitor sees this worker running or this sees the monitor resting.
  const int running = running_.fetch_add(1, std::memory_order_seq_cst) + 1;
  if (mon_resting_.load(std::memory_order_seq_cst)) WakeRestingMonitor();
  int seen = max_running_.load(std::memory_order_relaxed);
  while (running > seen && !max_running_.compare_exchange_weak(
                               seen, running, std::memory_order_relaxed)) {
  }
  switches_.fetch_add(1, std::memory_order_relaxed);
  w.state.store(WorkerState::kRunning, std::memory_order_release);
}

Worker* Core::Dispatch(Server& s, Worker& w) {
  MarkRunning(s, w);
  if (backend_->cooperative()) WakeAfterUnlock(w);
  return backend_->SwitchTo(s, w);
}

void Core::WakeAfterUnlock(Worker& w) {
  if (options_.before_wake_for_testing) options_.before_wake_for_testing();
  backend_->WakeDispatched(w);
  // The last access to `w`: from here on it may be retired and freed
  // (RetireIdleWorkers() reads this with acquire).
  w.wakes_due.fetch_sub(1, std::memory_order_release);
}

void Core::HandOff(Server& s, Worker& from, ReleaseReason reason,
                   std::shared_ptr<TaskState>* finished) {
  if (!backend_->cooperative()) {
    HandOffToServer(s, from, reason, finished);
    return;
  }
  Worker* next = nullptr;
  Server* wake = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished != nullptr) *finished = std::move(from.task);
    if (reason == ReleaseReason::kDone) {
      PushIdleLocked(from, /*wake_server=*/false);
    } else if (reason == ReleaseReason::kYield) {
      PushResumedLocked(from, /*wake_server=*/false);
    }
    next = PickNextLocked();
    // Another worker: woken after mu_ is released (below).
    if (next != nullptr && next != &from) {
      next->wakes_due.fetch_add(1, std::memory_order_relaxed);
    }
    if (next == nullptr && !exit_ &&
        (reason == ReleaseReason::kDone || reason == ReleaseReason::kBlocked)) {
      // A finished or blocking task and nothing to run: mark the CPU idle
      // on the server thread's behalf and leave that thread asleep. Waking
      // it only for it to find nothing and park again cost a futex round
      // trip per drained queue; whoever next takes this server from
      // idle_servers_ clears current and wakes it, and it leaves
      // SwitchTo(), or a submitter or a worker that stops blocking claims
      // the CPU and runs a worker on it without waking it (Submit,
      // ExitBlocking). (Once exit_ is set, Shutdown has already woken the
      // idle servers: wake ours below.)
      ListLazilyIdleLocked(s, from, reason);
      return;
    }
    // More runnable work than this CPU: let an idle server take some.
    if (next != nullptr) wake = TakeIdleServerIfWorkLocked();
  }
  if (wake != nullptr) backend_->UnparkServer(*wake);
  if (next == nullptr) {
    ReleaseServer(s, from, reason);
    return;
  }
  MarkRunning(s, *next);
  if (next != &from) WakeAfterUnlock(*next);
}

void Core::HandOffToServer(Server& s, Worker& from, ReleaseReason reason,
                           std::shared_ptr<TaskState>* finished) {
  bool keep = false;
  Server* wake = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished != nullptr) *finished = std::move(from.task);
    DrainKernelLocked();
    if (reason == ReleaseReason::kDone && tasks_head_ != nullptr &&
        !ResumedGoesFirstLocked()) {
      // Run the next queued task ourselves: no switch at all.
      from.runnable_since_ns = tasks_head_->enqueue_ns;
      from.task = PopTaskLocked();
      keep = true;
    } else if (reason == ReleaseReason::kYield && resumed_head_ == nullptr &&
               tasks_head_ == nullptr) {
      keep = true;  // Nothing else to run: carry on.
    }
    // More runnable work than this CPU: let an idle server take some.
    wake = TakeIdleServerIfWorkLocked();
  }
  if (wake != nullptr) backend_->UnparkServer(*wake);
  if (keep) {
    MarkRunning(s, from);
    return;
  }
  // The server queues us (OnReleasedLocked) once we are inside umcg_wait().
  MarkReleased(s, from, reason);
  backend_->LeaveCpu(from, s);
}

absl::Status Core::CheckStillWanted(const TaskState& t) const {
  if (t.options.cancellation.IsCancelled()) return cancelled_while_queued_;
  if (RealNow() >= t.options.deadline) return expired_while_queued_;
  return absl::OkStatus();
}

void Core::FailTask(TaskState& t, absl::Status status) {
  if (status.code() == absl::StatusCode::kCancelled) {
    cancelled_.fetch_add(1, std::memory_order_relaxed);
  } else {
    expired_.fetch_add(1, std::memory_order_relaxed);
  }
  t.Complete(std::move(status));
  in_flight_.fetch_sub(1, std::memory_order_acq_rel);
}

void Core::RecordDelay(int64_t since_ns) {
  const int64_t us = (MonotonicNanos() - since_ns) / 1000;
  int bucket = 0;
  while (bucket + 1 < DelayHistogram::kBuckets &&
         (int64_t{2} << bucket) <= us) {
    ++bucket;
  }
  delay_[bucket].fetch_add(1, std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------
// Worker side.

void* Core::WorkerMain(void* arg) {
  Worker* w = static_cast<Worker*>(arg);
  w->core->WorkerLoop(*w);
  return nullptr;
}

void Core::CountRegisteredLocked(Worker& w) {
  if (w.registered) return;
  w.registered = true;
  --starting_;
}

void Core::WorkerStarted(Worker& w) {
  // In a burst (see RequestSpawnLocked()), help the keeper create the
  // rest first: creating threads is most of a burst's cost, and this
  // spreads it over the CPUs. At most one helper per server; still with
  // the keeper's SCHED_BATCH policy, and not attached yet, so the new
  // threads start as the keeper's do.
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The handle pthread_create() returned to our creator; recorded here,
    // before anyone can take this worker out of the pool to join it.
    w.thread = pthread_self();
    if (pending_spawns_ == 0 ||
        spawn_batch_ <= static_cast<int>(servers_.size()) ||
        helpers_ >= static_cast<int>(servers_.size())) {
      return;
    }
    ++helpers_;
  }
  SpawnPendingWorkers();
  {
    std::lock_guard<std::mutex> lock(mu_);
    --helpers_;
  }
  // No trim here: creating threads stays within the two pages every
  // blocked worker touches anyway (measured with W5's 10,000 workers).
}

void Core::WorkerLoop(Worker& w) {
  // Set-up and tear-down are out of line: their temporaries would deepen
  // this frame, under which every task runs, and every page a task's
  // deepest call reaches is one more resident page per blocked worker.
  if (!SetUpWorker(w)) return;
  while (true) {
    if (trim_stacks_) {
      AwaitDispatchOrTrim(w);
    } else {
      AwaitDispatch(w);
    }
    if (w.exit.load(std::memory_order_acquire)) break;
    RunTask(w);
    // Tasks the keeper failed (swept from the queue): freed here, on a
    // worker.
    if (graveyard_.load(std::memory_order_relaxed) != nullptr) {
      EmptyGraveyard();
    }
    if (options_.after_task_for_testing) options_.after_task_for_testing();
  }
  TearDownWorker(w);
}

ABSL_ATTRIBUTE_NOINLINE bool Core::SetUpWorker(Worker& w) {
  pthread_setname_np(pthread_self(), "umcg-worker");
  WorkerStarted(w);
  // Usually spawned by the keeper, whose SCHED_BATCH it inherited: back
  // to the creator's SCHED_OTHER (always allowed; the nice value is kept).
  if (batch_runtime_threads_) {
    if (absl::Status normal = UseNormalPolicy(pthread_self()); !normal.ok()) {
      Log(absl::StrCat("worker ", w.id, ": ", normal.ToString()));
    }
  }
  SetCurrentWorker(&w);
  w.tid.store(static_cast<pid_t>(syscall(SYS_gettid)),
              std::memory_order_release);
  if (options_.on_worker_start) options_.on_worker_start();
  absl::Status attached = backend_->AttachWorker(w);
  if (!attached.ok()) {
    Log(absl::StrCat("worker ", w.id, ": ", attached.ToString()));
    if (!backend_->cooperative()) {
      // Not a UMCG worker: it cannot be dispatched. Hand it to the
      // keeper to join.
      SetCurrentWorker(nullptr);
      AbandonWorker(w);
      return false;
    }
  }
  if (backend_->cooperative()) {
    // The kernel backend's registration queued us through the kernel's
    // idle list already (and returned once dispatched).
    std::lock_guard<std::mutex> lock(mu_);
    CountRegisteredLocked(w);
    PushIdleLocked(w);
  }
  return true;
}

ABSL_ATTRIBUTE_NOINLINE void Core::TearDownWorker(Worker& w) {
  if (!backend_->cooperative()) {
    // Dispatched only to exit: give the CPU back. Unregistering wakes the
    // server, which finds nothing to queue.
    WorkerState expected = WorkerState::kRunning;
    CheckInvariant(w.state.compare_exchange_strong(expected, WorkerState::kIdle,
                                                   std::memory_order_acq_rel),
                   "retiring worker not running");
    running_.fetch_sub(1, std::memory_order_acq_rel);
    MarkReleased(*w.server.load(std::memory_order_relaxed), w,
                 ReleaseReason::kExit);
  }
  backend_->DetachWorker(w);
  SetCurrentWorker(nullptr);
  // Last access: the owner may free `w` from here on.
  w.exited.store(true, std::memory_order_release);
}

void Core::AbandonWorker(Worker& w) {
  std::lock_guard<std::mutex> lock(mu_);
  CountRegisteredLocked(w);  // It never will.
  retiring_.push_back(TakeWorkerLocked(&w));
  w.exited.store(true, std::memory_order_release);
}

void Core::JoinExitedWorkers(bool wait_all) {
  // Reserved at start-up: no allocation under mu_, none per keeper chore.
  std::vector<std::unique_ptr<Worker>>& done = retired_scratch_;
  done.clear();
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = retiring_.begin(); it != retiring_.end();) {
        if ((*it)->exited.load(std::memory_order_acquire)) {
          done.push_back(std::move(*it));
          it = retiring_.erase(it);
        } else {
          ++it;
        }
      }
      if (!wait_all || retiring_.empty()) break;
    }
    absl::SleepFor(absl::Microseconds(200));
  }
  for (auto& w : done) pthread_join(w->thread, nullptr);
  if (!done.empty()) AwaitMonitorPass();
  done.clear();
}

namespace {

// Out of line: RunTask()'s frame lies under every task (see WorkerLoop()).
ABSL_ATTRIBUTE_NOINLINE absl::Status ThrownStatus(const char* what) {
  return absl::InternalError(absl::StrCat("task threw: ", what));
}

}  // namespace

void Core::RunTask(Worker& w) {
  // Before this task can pool the worker (RequestStackTrims() reads it).
  w.ran_task.store(true, std::memory_order_relaxed);
  // Every task starts with the dispatch that gave it this worker
  // (MarkRunning()): that is its start, without another clock read.
  const int64_t started_ns = w.dispatch_ns.load(std::memory_order_relaxed);
  TaskState* t = w.task.get();
  // Cancelled or expired while queued: fail it here rather than on the
  // server, so user destructors and frees never run on a server.
  absl::Status wanted = CheckStillWanted(*t);
  if (wanted.ok()) {
    SetCurrentTask(t);
    absl::Status status;
    try {
      t->fn();
    } catch (const std::exception& e) {
      status = ThrownStatus(e.what());
    } catch (...) {
      status = absl::InternalError("task threw a non-std::exception value");
    }
    // A task this long (W5's one-second sleeps) most likely leaves its
    // worker cold: trim once off the CPU (AwaitDispatchOrTrim()) instead
    // of being woken for it later, a wake-up per worker after a burst.
    // Fallback only, as all trimming (trim_stacks_).
    w.trim_on_idle =
        trim_stacks_ && MonotonicNanos() - started_ns >= idle_trim_ns_;
    // The captures are destroyed here, on the worker, and like the task
    // outside any no-preemption section: their destructors may free memory
    // or take locks that a preempted or blocked worker holds (see
    // "Preemption safety" in docs/runtime.md).
    t->fn = nullptr;
    SetCurrentTask(nullptr);
    completed_.fetch_add(1, std::memory_order_relaxed);
    if (!status.ok()) {
      failed_.fetch_add(1, std::memory_order_relaxed);
      Log(status.message());
    }
    t->Complete(std::move(status));
    in_flight_.fetch_sub(1, std::memory_order_acq_rel);
  } else {
    t->fn = nullptr;
    FailTask(*t, std::move(wanted));
  }
  // Declared before the scope below, so that the task's memory is freed
  // after the scope has ended.
  std::shared_ptr<TaskState> finished;
  NoPreemptScope no_preempt(&w);
  // w.task is detached under mu_ (Shutdown reads it) and freed after mu_
  // is released (never allocate or free under mu_).
  w.preempt_pending.store(false, std::memory_order_relaxed);
  WorkerState expected = WorkerState::kRunning;
  if (w.state.compare_exchange_strong(expected, WorkerState::kIdle,
                                      std::memory_order_acq_rel)) {
    running_.fetch_sub(1, std::memory_order_acq_rel);
    // Pool ourselves and pass the CPU on (possibly to ourselves, for the
    // next queued task: no context switch at all).
    HandOff(*w.server.load(std::memory_order_relaxed), w, ReleaseReason::kDone,
            &finished);
    return;
  }
  // kLost: no server holds us; pool ourselves.
  {
    std::lock_guard<std::mutex> lock(mu_);
    finished = std::move(w.task);
    PushIdleLocked(w);
  }
}

// Not inlined: its temporaries would deepen WorkerLoop()'s frame, under
// which every task runs (and so every task's deepest call).
ABSL_ATTRIBUTE_NOINLINE void Core::FindStack(Worker& w) {
  w.stack_looked_up = true;
  absl::StatusOr<StackRange> stack = CurrentStack();
  if (stack.ok()) {
    w.stack = *stack;
  } else {
    Log(absl::StrCat("worker ", w.id,
                     ": stack not trimmed: ", stack.status().ToString()));
  }
}

void Core::AwaitDispatchOrTrim(Worker& w) {
  // Only a worker that goes idle trims: one that took the next queued task
  // itself (HandOff) is RUNNING again and would fault its pages straight
  // back in. Under overload every task outlasts the delay, and trimming
  // there cost an madvise() and the faults after it on every call.
  if (w.trim_on_idle) {
    w.trim_on_idle = false;
    if (w.state.load(std::memory_order_acquire) != WorkerState::kRunning) {
      TrimStack(w);
      w.ran_task.store(false, std::memory_order_relaxed);  // Nothing to ask.
    }
  }
  // Dispatched (the idle pool is a stack: the worker that finished last
  // runs the next task), or told to exit: keep the pages. Always so on the
  // kernel backend, whose workers wait in the kernel.
  while (true) {
    if (backend_->WaitForDispatchUnless(w, w.trim_requested)) {
      if (!DispatchRevoked(w)) break;
      continue;
    }
    // Idle for the whole delay (RequestStackTrims()). Off any CPU: a
    // dispatch that comes now is seen once the trim is done.
    w.trim_requested.store(false, std::memory_order_relaxed);
    TrimStack(w);
  }
  // A request only comes while the worker is idle, so any request was
  // made before this dispatch: it is void.
  w.trim_requested.store(false, std::memory_order_relaxed);
  AcknowledgeDispatch(w);
}

void Core::RequestStackTrims() {
  // Reserved at start-up: no allocation under mu_, none per keeper chore.
  std::vector<Worker*>& due = trim_scratch_;
  due.clear();
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t cutoff = MonotonicNanos() - idle_trim_ns_;
    // The stack is in idle_since_ns order, oldest at the bottom; below the
    // frontier every worker was seen already, so each is asked at most once
    // per idle period (a worker leaves the stack only to run a task, or to
    // retire). A new worker has nothing to give back.
    while (trim_frontier_ < idle_workers_.size()) {
      Worker* w = idle_workers_[trim_frontier_];
      if (w->idle_since_ns > cutoff) break;
      ++trim_frontier_;
      if (!w->ran_task.load(std::memory_order_relaxed)) continue;
      w->trim_requested.store(true, std::memory_order_release);
      due.push_back(w);
    }
  }
  // Woken outside mu_ (thousands of them after a fan-in burst). Only the
  // keeper frees idle workers (RetireIdleWorkers(), or Shutdown() once
  // the keeper has stopped), so each is still there; one dispatched
  // meanwhile finds a stale token, which every wait loop tolerates.
  for (Worker* w : due) w->parker.Unpark();
}

// Not inlined, and its failure path in a function of its own: the pages it
// gives back start a little below its own frame.
ABSL_ATTRIBUTE_NOINLINE void Core::TrimStack(Worker& w) {
  // Looked up on first use: pthread_getattr_np() costs a
  // sched_getaffinity() and an allocation, and most workers of a burst
  // never trim.
  if (!w.stack_looked_up) FindStack(w);
  if (w.stack.low == 0) return;
  absl::StatusOr<size_t> released = ReleaseStackBelow(w.stack);
  if (released.ok()) {
    if (*released > 0) stack_trims_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // E.g. EINVAL for mlock()ed memory: it would fail every time.
  w.stack.low = 0;
  LogTrimFailure(w, released.status());
}

ABSL_ATTRIBUTE_NOINLINE void Core::LogTrimFailure(const Worker& w,
                                                  const absl::Status& status) {
  Log(absl::StrCat("worker ", w.id,
                   ": stack trimming off: ", status.ToString()));
}

void Core::AwaitDispatch(Worker& w) {
  do {
    backend_->WaitForDispatch(w);
  } while (DispatchRevoked(w));
  AcknowledgeDispatch(w);
}

bool Core::DispatchRevoked(Worker& w) {
  // Only the monitor makes an unstarted dispatch kLost (and counts it in
  // mon_lost_bound_); the preemption handler leaves unstarted dispatches
  // alone, so nobody else moves the worker out of kLost meanwhile.
  WorkerState expected = WorkerState::kLost;
  return w.state.compare_exchange_strong(expected, WorkerState::kReclaimed,
                                         std::memory_order_acq_rel);
}

void Core::AcknowledgeDispatch(Worker& w) {
  // From here on this dispatch runs task code, and the monitor may judge
  // it. Before this, a worker that the OS has not scheduled yet would look
  // "asleep" and be wrongly declared lost.
  w.ack_seq.store(w.dispatch_seq.load(std::memory_order_relaxed),
                  std::memory_order_release);
}

void Core::MarkReleased(Server& s, Worker& w, ReleaseReason reason,
                        Worker* now) {
  s.released.store(&w, std::memory_order_relaxed);
  s.released_id.store(w.id, std::memory_order_relaxed);
  s.reason.store(reason, std::memory_order_relaxed);
  // seq_cst: the kernel backend's server reads a worker's UMCG state and
  // then current again; the worker's later state store must not pass this.
  s.current.store(now, std::memory_order_seq_cst);
}

void Core::ReleaseServer(Server& s, Worker& w, ReleaseReason reason) {
  MarkReleased(s, w, reason);
  backend_->NotifyReleased(s);
}

void Core::EnterBlocking(Worker& w) {
  NoPreemptScope no_preempt(&w);
  blocked_.fetch_add(1, std::memory_order_relaxed);
  WorkerState expected = WorkerState::kRunning;
  if (w.state.compare_exchange_strong(expected, WorkerState::kBlocked,
                                      std::memory_order_acq_rel)) {
    running_.fetch_sub(1, std::memory_order_acq_rel);
    blocks_.fetch_add(1, std::memory_order_relaxed);
    HandOff(*w.server.load(std::memory_order_relaxed), w,
            ReleaseReason::kBlocked);
  } else {
    // kLost: the monitor already gave our CPU away.
    w.state.store(WorkerState::kBlocked, std::memory_order_release);
  }
}

void Core::ExitBlocking(Worker& w) {
  Server* wake = nullptr;
  {
    // Once the claim below makes us kRunning, a preemption must wait until
    // mu_ is released: the handler would park us holding it.
    NoPreemptScope no_preempt(&w);
    std::lock_guard<std::mutex> lock(mu_);
    if (EndBlockLocked(w, /*may_claim=*/true, &wake) != nullptr) {
      AcknowledgeDispatch(w);
      return;
    }
  }
  if (wake != nullptr) backend_->UnparkServer(*wake);
  AwaitDispatch(w);
}

void Core::CountBlockEndLocked(Worker& w) {
  blocked_.fetch_sub(1, std::memory_order_relaxed);
  wakes_.fetch_add(1, std::memory_order_relaxed);
  w.runnable_since_ns = MonotonicNanos();
}

Server* Core::EndBlockLocked(Worker& w, bool may_claim, Server** wake) {
  CountBlockEndLocked(w);
  if (Server* s = may_claim ? ClaimLazyIdleServerLocked() : nullptr) {
    // A CPU whose thread still waits in SwitchTo(): take it, instead of
    // waking that thread only for it to wake `w` (two context switches and
    // two futex calls less per block).
    MarkRunning(*s, w);
    direct_wakes_.fetch_add(1, std::memory_order_relaxed);
    return s;
  }
  w.state.store(WorkerState::kRunnable, std::memory_order_release);
  w.woken = true;
  PushResumedLocked(w, /*wake_server=*/false);
  if (wake != nullptr) *wake = TakeIdleServerLocked();
  return nullptr;
}

bool Core::ArmTimerLocked(Suspension& s) {
  if (s.due_ns == INT64_MAX) return false;
  timers_.Push(s);
  PublishNextTimerLocked();
  const bool kick = s.due_ns < mon_wake_at_ns_.load(std::memory_order_seq_cst);
  // One kick per planned wake-up: later timers due before it but after
  // this one wait for the pass this kick starts.
  if (kick) mon_wake_at_ns_.store(s.due_ns, std::memory_order_relaxed);
  return kick;
}

void Core::Suspend(Worker& w, Suspension& s) {
  if (!backend_->cooperative()) {
    SuspendOnKernel(w, s);
    return;
  }
  EnterBlocking(w);
  bool ended = false;
  bool kick = false;
  {
    NoPreemptScope no_preempt(&w);
    std::lock_guard<std::mutex> lock(mu_);
    ended = s.ended;
    if (!ended) {
      s.suspended = true;
      kick = ArmTimerLocked(s);
    }
  }
  if (ended) {
    // Resumed before we were suspended: queue for a CPU as after any block.
    ExitBlocking(w);
    return;
  }
  if (kick) KickMonitor();
  AwaitDispatch(w);
}

void Core::SuspendOnKernel(Worker& w, Suspension& s) {
  {
    // LOCKED until a server runs us again, as in Yield(): the kernel must
    // neither preempt us nor report a block while we hand the CPU back.
    NoPreemptScope no_preempt(&w);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (s.ended) return;  // Notified meanwhile: keep the CPU.
      s.suspended = true;
      w.suspension = &s;
      s.kick_monitor = ArmTimerLocked(s);
      w.state.store(WorkerState::kBlocked, std::memory_order_relaxed);
      running_.fetch_sub(1, std::memory_order_acq_rel);
      blocked_.fetch_add(1, std::memory_order_relaxed);
      blocks_.fetch_add(1, std::memory_order_relaxed);
    }
    // Not queued: our server sees the release once we are inside
    // umcg_wait() (OnReleasedLocked), and from then on Resume() or the
    // timer queues us; a worker queued before that could be claimed by
    // another server on its way in (see KernelBackend).
    Server& server = *w.server.load(std::memory_order_relaxed);
    MarkReleased(server, w, ReleaseReason::kSuspended);
    backend_->LeaveCpu(w, server);
  }
  AwaitDispatch(w);
}

void Core::Resume(Suspension& s) {
  Worker* direct = nullptr;
  Server* wake = nullptr;
  // Kernel backend: may this thread start the worker on a parked server?
  // Asked before mu_ and the no-preemption section (it may register).
  const bool may_claim =
      backend_->cooperative() || backend_->PrepareDirectStart();
  // From a worker: not preempted holding mu_, nor between the dispatch
  // and its wake-up (that CPU would be held by a sleeping thread).
  NoPreemptScope no_preempt(OwnWorker());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (s.ended) return;
    s.ended = true;
    // Not suspended yet: Suspend() sees `ended` and queues the worker (or,
    // on the kernel backend, keeps its CPU).
    if (!s.suspended) return;
    ResumeSuspendedLocked(s, may_claim, &direct, &wake);
  }
  if (direct != nullptr) WakeAfterUnlock(*direct);
  if (wake != nullptr) backend_->UnparkServer(*wake);
}

void Core::ResumeSuspendedLocked(Suspension& s, bool may_claim, Worker** direct,
                                 Server** wake) {
  s.ended = true;
  s.suspended = false;
  timers_.Remove(s);
  PublishNextTimerLocked();
  Worker& w = *s.worker;
  if (!backend_->cooperative()) {
    // Its server queues it once it sees it leave (OnReleasedLocked).
    if (!s.off_cpu) return;
    w.suspension = nullptr;
    // Inside umcg_wait(): started on a parked server, if one is free and
    // nothing runnable is ahead of it (`may_claim`: the caller can wake
    // UMCG threads), else queued.
    Server* parked = may_claim ? TakeParkedServerLocked() : nullptr;
    if (parked != nullptr) {
      CountBlockEndLocked(w);
      if (StartOnParkedServerLocked(*parked, w, wake)) {
        direct_wakes_.fetch_add(1, std::memory_order_relaxed);
      }
      return;
    }
    may_claim = false;
  }
  // What ExitBlocking() does, on the suspended worker's behalf.
  if (EndBlockLocked(w, may_claim, wake) != nullptr) {
    w.wakes_due.fetch_add(1, std::memory_order_relaxed);
    *direct = &w;
  }
}

void Core::ExpireDueTimersLocked() {
  const int64_t now = MonotonicNanos();
  while (Suspension* s = timers_.PopDue(now)) {
    Worker* direct = nullptr;  // Stays null: nothing is claimed.
    // Queued only: the picking server runs the first, and its caller wakes
    // an idle server if more are runnable.
    ResumeSuspendedLocked(*s, /*may_claim=*/false, &direct, /*wake=*/nullptr);
  }
}

void Core::ExpireTimers() {
  // Kernel backend: whether the monitor may start a worker on a parked
  // server (registers it on first use, before mu_).
  const bool may_claim =
      backend_->cooperative() || backend_->PrepareDirectStart();
  while (next_timer_due_ns_.load(std::memory_order_relaxed) <=
         MonotonicNanos()) {
    Worker* direct = nullptr;
    Server* wake = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      Suspension* s = timers_.PopDue(MonotonicNanos());
      if (s == nullptr) return;
      ResumeSuspendedLocked(*s, may_claim, &direct, &wake);
    }
    if (direct != nullptr) WakeAfterUnlock(*direct);
    if (wake != nullptr) backend_->UnparkServer(*wake);
  }
}

void Core::PublishNextTimerLocked() {
  next_timer_due_ns_.store(timers_.NextDue(), std::memory_order_seq_cst);
}

absl::Duration Core::PlanMonitorWake(absl::Duration wait) {
  // Without mu_: this runs every tick, and the monitor, a SCHED_BATCH
  // thread, must hold the queue mutex as little as it can.
  const int64_t now = MonotonicNanos();
  int64_t wake_at = wait == absl::InfiniteDuration()
                        ? INT64_MAX
                        : now + absl::ToInt64Nanoseconds(wait);
  mon_wake_at_ns_.store(wake_at, std::memory_order_seq_cst);
  const int64_t due = next_timer_due_ns_.load(std::memory_order_seq_cst);
  if (due < wake_at) {
    wait = absl::Nanoseconds(due - now);
    mon_wake_at_ns_.store(due, std::memory_order_relaxed);
  }
  return wait;
}

void Core::Yield(Worker& w) {
  {
    NoPreemptScope no_preempt(&w);
    w.preempt_pending.store(false, std::memory_order_relaxed);
    WorkerState expected = WorkerState::kRunning;
    w.runnable_since_ns = MonotonicNanos();
    if (w.state.compare_exchange_strong(expected, WorkerState::kRunnable,
                                        std::memory_order_acq_rel)) {
      running_.fetch_sub(1, std::memory_order_acq_rel);
      // Queue behind older work and run whatever is first (maybe us).
      HandOff(*w.server.load(std::memory_order_relaxed), w,
              ReleaseReason::kYield);
    } else if (expected == WorkerState::kLost) {
      w.state.store(WorkerState::kRunnable, std::memory_order_release);
      std::lock_guard<std::mutex> lock(mu_);
      PushResumedLocked(w);
    } else {
      return;
    }
  }
  AwaitDispatch(w);
}

void Core::BeginNoPreempt(Worker& w) {
  if (w.no_preempt.fetch_add(1, std::memory_order_relaxed) == 0) {
    backend_->EnterCritical(w);
  }
}

void Core::EndNoPreempt(Worker& w) {
  if (w.no_preempt.fetch_sub(1, std::memory_order_relaxed) != 1) return;
  backend_->ExitCritical(w);
  if (!w.preempt_pending.exchange(false, std::memory_order_relaxed)) return;
  const WorkerState state = w.state.load(std::memory_order_acquire);
  if (state == WorkerState::kRunning || state == WorkerState::kLost) {
    if (state == WorkerState::kRunning) {
      preemptions_.fetch_add(1, std::memory_order_relaxed);
    }
    Yield(w);
  }
}

void Core::OnPreemptSignal(Worker& w) {
  // Kernel backend: the kernel already acted on UMCG_TF_PREEMPTED.
  if (!backend_->cooperative()) return;
  // A signal meant for an earlier dispatch can arrive while this thread is
  // still inside AwaitDispatch() for the next one (its delivery was late:
  // the thread was not running, or ThreadSanitizer deferred it). That
  // dispatch has not started, so there is nothing to preempt; acting on it
  // would park this thread a second time inside its own Park(). The
  // acknowledgement is this thread's own store, made on leaving
  // AwaitDispatch(), and the monitor signals a dispatch only once it is
  // acknowledged, so no signal meant for the current dispatch is dropped.
  if (w.ack_seq.load(std::memory_order_relaxed) !=
      w.dispatch_seq.load(std::memory_order_acquire)) {
    return;
  }
  if (w.no_preempt.load(std::memory_order_relaxed) > 0) {
    w.preempt_pending.store(true, std::memory_order_relaxed);
    return;
  }
  WorkerState expected = WorkerState::kRunning;
  if (w.state.compare_exchange_strong(expected, WorkerState::kPreempted,
                                      std::memory_order_acq_rel)) {
    running_.fetch_sub(1, std::memory_order_acq_rel);
    preemptions_.fetch_add(1, std::memory_order_relaxed);
    // Async-signal context: no mu_. The server thread re-queues us.
    ReleaseServer(*w.server.load(std::memory_order_relaxed), w,
                  ReleaseReason::kPreempted);
    AwaitDispatch(w);
    return;
  }
  if (expected == WorkerState::kLost &&
      w.state.compare_exchange_strong(expected, WorkerState::kReclaimed,
                                      std::memory_order_acq_rel)) {
    AwaitDispatch(w);  // The monitor re-queues us.
  }
}

// ---------------------------------------------------------------------------
// Monitor.

void Core::KickMonitor() {
  std::lock_guard<std::mutex> lock(mon_mu_);
  mon_kick_ = true;
  mon_cv_.notify_one();
}

void Core::WakeRestingMonitor() {
  // Only one of the racing callers kicks.
  if (mon_resting_.exchange(false, std::memory_order_relaxed)) KickMonitor();
}

absl::Duration Core::BeginRest() {
  // seq_cst, with the running_ load below: paired with MarkRunning().
  mon_resting_.store(true, std::memory_order_seq_cst);
  std::lock_guard<std::mutex> lock(mu_);
  if (running_.load(std::memory_order_seq_cst) > 0 || tasks_head_ != nullptr ||
      pending_spawns_ > 0 || starting_ > 0 || !retiring_.empty() ||
      mon_lost_bound_ > 0) {
    mon_resting_.store(false, std::memory_order_relaxed);
    return absl::ZeroDuration();
  }
  // Idle workers wait for their trim, or for retirement above min_workers:
  // wake up when the first of them is due.
  const int64_t due = std::min(NextTrimDueLocked(), NextRetireDueLocked());
  if (due == INT64_MAX) return absl::InfiniteDuration();
  return absl::Nanoseconds(due - MonotonicNanos());
}

namespace {

// `since + delay`, saturating at INT64_MAX.
int64_t After(int64_t since, int64_t delay) {
  return delay > INT64_MAX - since ? INT64_MAX : since + delay;
}

}  // namespace

int64_t Core::NextTrimDueLocked() const {
  // (The first worker above the frontier may turn out to be a new one,
  // with nothing to trim: one chore too many.)
  if (!trim_stacks_ || trim_frontier_ >= idle_workers_.size()) {
    return INT64_MAX;
  }
  return After(idle_workers_[trim_frontier_]->idle_since_ns, idle_trim_ns_);
}

int64_t Core::NextRetireDueLocked() const {
  if (idle_workers_.empty() ||
      workers_.size() <= static_cast<size_t>(options_.min_workers)) {
    return INT64_MAX;
  }
  return After(idle_workers_.front()->idle_since_ns,
               ToNanos(options_.worker_idle_timeout));
}

void Core::MonitorLoop() {
  if (batch_runtime_threads_) {
    if (absl::Status batch = UseBatchPolicy(pthread_self()); !batch.ok()) {
      Log(absl::StrCat("monitor: ", batch.ToString()));
    }
  }
  // Named once its policy is set: whoever finds the name finds the policy.
  pthread_setname_np(pthread_self(), "umcg-monitor");
  absl::Duration tick = absl::Milliseconds(10);
  if (options_.block_threshold > absl::ZeroDuration()) {
    tick = std::min(tick, options_.block_threshold / 4);
  }
  if (options_.time_slice > absl::ZeroDuration()) {
    tick = std::min(tick, options_.time_slice / 4);
  }
  tick = std::max(tick, absl::Microseconds(250));
  int64_t last_sweep = 0;
  int64_t last_retire = 0;
  // Ticks in a row with no dispatch at all, and no worker running at
  // their end. After enough of them the monitor rests (BeginRest())
  // instead of polling every tick: an idle server makes no wake-ups, and
  // the next dispatch or submission wakes the monitor. Traffic that keeps
  // dispatching keeps the monitor polling, so the dispatch path kicks it
  // at most once per idle spell of that length.
  constexpr int kQuietTicksBeforeRest = 20;
  int quiet_ticks = 0;
  uint64_t seen_switches = 0;
  while (true) {
    absl::Duration wait = tick;
    if (quiet_ticks >= kQuietTicksBeforeRest) {
      wait = std::max(tick, BeginRest());
    }
    wait = PlanMonitorWake(wait);
    {
      std::unique_lock<std::mutex> lock(mon_mu_);
      if (!mon_stop_ && !mon_kick_) {
        if (wait == absl::InfiniteDuration()) {
          mon_cv_.wait(lock);
        } else {
          mon_cv_.wait_for(lock, absl::ToChronoNanoseconds(wait));
        }
      }
      if (mon_stop_) return;
      mon_kick_ = false;
    }
    mon_resting_.store(false, std::memory_order_relaxed);
    // Odd while this pass holds pointers to workers (AwaitMonitorPass()).
    // seq_cst: a keeper that reads an even count before this increment
    // unlinked its workers before this pass can find them.
    mon_pass_.fetch_add(1, std::memory_order_seq_cst);
    if (backend_->cooperative()) {
      WatchRunningWorkers();
      WatchLostWorkers();
    } else {
      WatchTimeSlices();
    }
    ExpireTimers();
    mon_pass_.fetch_add(1, std::memory_order_release);
    const int64_t now = MonotonicNanos();
    if (now - last_sweep >= 10'000'000) {
      last_sweep = now;
      SweepQueuedTasks();
    }
    const bool retire = now - last_retire >= 100'000'000;
    if (retire) last_retire = now;
    if (KeeperChoresDue(now, retire)) KickKeeper(retire);
    const uint64_t switches = switches_.load(std::memory_order_relaxed);
    quiet_ticks = switches == seen_switches &&
                          running_.load(std::memory_order_relaxed) == 0
                      ? quiet_ticks + 1
                      : 0;
    seen_switches = switches;
  }
}

void Core::SpawnPendingWorkers() {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (pending_spawns_ <= 0) return;
    }
    // Allocated outside mu_ (see "preemption safety" in docs/runtime.md);
    // freed unused, after mu_ is released, if another thread took the
    // last pending spawn meanwhile.
    auto owned = std::make_unique<Worker>();
    Worker* w = owned.get();
    w->core = this;
    {
      // One at a time, so that several threads can share a burst. Count
      // the worker as existing before its thread can run, so that
      // workers_.size() + pending_spawns_ never double-counts it.
      std::lock_guard<std::mutex> lock(mu_);
      if (pending_spawns_ <= 0) return;
      w->id = next_worker_id_++;
      --pending_spawns_;
      ++starting_;
      workers_.push_back(std::move(owned));
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, options_.worker_stack_size);
    pthread_attr_setguardsize(&attr, page);
    // The thread records its own handle (WorkerStarted()): once it runs,
    // it may register and be joined before this call has returned.
    // Counted before the thread can run its on_worker_start hook, so that
    // the metric never lags behind the hooks; taken back on failure.
    created_.fetch_add(1, std::memory_order_relaxed);
    pthread_t thread;
    const int rc = pthread_create(&thread, &attr, &Core::WorkerMain, w);
    pthread_attr_destroy(&attr);
    if (rc == 0) continue;
    created_.fetch_sub(1, std::memory_order_relaxed);
    Log(absl::StrCat("cannot create worker thread: ",
                     std::generic_category().message(rc)));
    std::unique_ptr<Worker> failed;  // Freed after mu_ is released.
    std::lock_guard<std::mutex> lock(mu_);
    CountRegisteredLocked(*w);  // It never will.
    failed = TakeWorkerLocked(w);
  }
}

Worker* Core::RunningWorkerOn(const Server& s) const {
  // Workers are freed by the keeper only once the monitor's pass that
  // read this is over (AwaitMonitorPass()), or after the monitor has
  // stopped, so the pointer stays valid for the pass.
  Worker* w = s.current.load(std::memory_order_acquire);
  if (w == nullptr ||
      w->state.load(std::memory_order_acquire) != WorkerState::kRunning) {
    return nullptr;
  }
  return w;
}

void Core::WatchRunningWorkers() {
  const int64_t threshold = ToNanos(options_.block_threshold);
  const int64_t slice = ToNanos(options_.time_slice);
  if (threshold == 0 && slice == 0) return;
  for (auto& s : servers_) {
    Worker* w = RunningWorkerOn(*s);
    if (w == nullptr) continue;
    const uint64_t seq = w->dispatch_seq.load(std::memory_order_relaxed);
    const int64_t now = MonotonicNanos();
    const int64_t age = now - w->dispatch_ns.load(std::memory_order_relaxed);
    // A dispatch not acknowledged yet has not started: its thread is
    // waking up (runnable, so never judged asleep), or still finishing its
    // last task after pooling itself, where it can sleep: freeing the task,
    // say, on malloc's lock, which a worker waiting for a CPU may hold.
    // That is judged as a block, not for its time slice: the monitor
    // revokes the dispatch, and the worker queues again once it gets to
    // wait for it (AwaitDispatch()). A thread still asleep in its Park()
    // because its waker was descheduled may be revoked too: it then
    // queues again, a wasted trip but no harm.
    const bool started = w->ack_seq.load(std::memory_order_acquire) == seq;
    if (seq != w->mon_seq) {
      w->mon_seq = seq;
      w->mon_sleep_since_ns = 0;
      w->mon_slice_cpu_start_ns = Worker::kNotRead;
    }
    const bool check_block = threshold > 0 && age >= threshold / 2;
    // The slice counts CPU time, not wall time: a worker whose thread the
    // host or a cgroup quota held off the CPU has not used its slice, and
    // preempting it anyway parks it wherever it was, inside malloc() say,
    // with every worker that then needs that lock asleep on its CPU in
    // turn until the monitor has taken back enough CPUs for it to be run
    // again (a W5 server under a 0.25-CPU quota took a minute to stop).
    // Read from the first look on (half a slice in at most); the
    // dispatch's age by then counts as used, up to half a slice.
    const bool check_slice = started && slice > 0 && age >= slice / 2;
    if (!check_block && !check_slice) continue;
    absl::StatusOr<ThreadStat> stat =
        ReadThreadStat(w->tid.load(std::memory_order_acquire));
    if (!stat.ok()) continue;
    const auto cpu_ns = static_cast<int64_t>(stat->runtime_ns);
    if (w->mon_slice_cpu_start_ns == Worker::kNotRead) {
      // At most half a slice: a late first look (the monitor itself held
      // off its CPU) says nothing about the time before it.
      w->mon_slice_cpu_start_ns = cpu_ns - std::min(age, slice / 2);
    }
    // Without schedstat (runtime_ns 0) the slice falls back to wall time.
    const bool slice_used =
        check_slice && age >= slice &&
        (cpu_ns == 0 || cpu_ns - w->mon_slice_cpu_start_ns >= slice);
    if (stat->asleep()) {
      if (w->mon_sleep_since_ns == 0 || stat->runtime_ns != w->mon_runtime_ns) {
        w->mon_sleep_since_ns = now;
        w->mon_runtime_ns = stat->runtime_ns;
      } else if (threshold > 0 && now - w->mon_sleep_since_ns >= threshold) {
        // Asleep, not having run, for a whole threshold: give its CPU to
        // someone else.
        if (Server* held = DeclareLost(*w, seq)) {
          if (options_.on_lost_for_testing) options_.on_lost_for_testing();
          ReleaseServer(*held, *w, ReleaseReason::kLost);
        }
      }
    } else {
      w->mon_sleep_since_ns = 0;
      if (slice_used && w->mon_signalled_seq != seq) {
        w->mon_signalled_seq = seq;
        backend_->Interrupt(*w);
      }
    }
  }
}

Server* Core::DeclareLost(Worker& w, uint64_t seq) {
  // Under mu_ from the CAS until w.server is read: a lost worker must take
  // mu_ to pool itself or queue again (RunTask(), Yield(), ExitBlocking(),
  // WatchLostWorkers()), so no new dispatch can point w.server at another
  // CPU meanwhile. Read after mu_, it could name the CPU of the worker's
  // next dispatch: that CPU was released under a running worker, and the
  // one the worker lost stayed held for good (StressTest hung in
  // Shutdown(), its server waiting in SwitchTo() for a retired worker).
  std::lock_guard<std::mutex> lock(mu_);
  // The CAS loses against the worker's own release.
  WorkerState expected = WorkerState::kRunning;
  if (w.dispatch_seq.load(std::memory_order_relaxed) != seq ||
      !w.state.compare_exchange_strong(expected, WorkerState::kLost,
                                       std::memory_order_acq_rel)) {
    return nullptr;
  }
  running_.fetch_sub(1, std::memory_order_acq_rel);
  detected_.fetch_add(1, std::memory_order_relaxed);
  w.mon_awake_cpu_ns = Worker::kNotRead;
  ++mon_lost_bound_;
  // Written before kRunning was stored (MarkRunning()), which the CAS read.
  return w.server.load(std::memory_order_relaxed);
}

void Core::WatchTimeSlices() {
  const int64_t slice = ToNanos(options_.time_slice);
  if (slice == 0) return;
  for (auto& s : servers_) {
    Worker* w = RunningWorkerOn(*s);
    if (w == nullptr) continue;
    const uint64_t seq = w->dispatch_seq.load(std::memory_order_relaxed);
    if (w->mon_signalled_seq == seq) continue;
    if (MonotonicNanos() - w->dispatch_ns.load(std::memory_order_relaxed) <
        slice) {
      continue;
    }
    // Fails while the worker is blocked or inside a runtime critical
    // section; then we ask again at the next tick.
    if (backend_->Interrupt(*w)) {
      w->mon_signalled_seq = seq;
      preemptions_.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

bool Core::KeeperChoresDue(int64_t now, bool retire) {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_spawns_ > 0 || !retiring_.empty() || swept_ != nullptr ||
         NextTrimDueLocked() <= now || (retire && NextRetireDueLocked() <= now);
}

void Core::KickKeeper(bool retire) {
  std::lock_guard<std::mutex> lock(keeper_mu_);
  keeper_kick_ = true;
  keeper_retire_ = keeper_retire_ || retire;
  keeper_cv_.notify_one();
}

void Core::KeeperLoop() {
  if (batch_runtime_threads_) {
    if (absl::Status batch = UseBatchPolicy(pthread_self()); !batch.ok()) {
      Log(absl::StrCat("keeper: ", batch.ToString()));
    }
  }
  // Named once its policy is set, as the monitor.
  pthread_setname_np(pthread_self(), "umcg-keeper");
  while (true) {
    bool retire = false;
    {
      std::unique_lock<std::mutex> lock(keeper_mu_);
      keeper_cv_.wait(lock, [this] { return keeper_stop_ || keeper_kick_; });
      if (keeper_stop_) return;
      keeper_kick_ = false;
      retire = std::exchange(keeper_retire_, false);
    }
    if (options_.before_chores_for_testing) {
      options_.before_chores_for_testing();
    }
    CompleteSweptTasks();
    SpawnPendingWorkers();
    if (!backend_->cooperative()) JoinExitedWorkers(/*wait_all=*/false);
    if (trim_stacks_) RequestStackTrims();
    if (retire) RetireIdleWorkers(/*all=*/false);
  }
}

void Core::AwaitMonitorPass() {
  // A read-modify-write, not a load: the monitor's next increment reads
  // from it, so a pass that begins after an even value here sees every
  // unlinking before this call (a seq_cst load against the monitor's
  // acquire load of server.current is not enough on paper).
  const uint64_t pass = mon_pass_.fetch_add(0, std::memory_order_acq_rel);
  if ((pass & 1) == 0) return;
  // The pass holds no lock and waits for nothing: it ends within a tick.
  while (mon_pass_.load(std::memory_order_acquire) == pass) {
    absl::SleepFor(absl::Microseconds(50));
  }
}

void Core::StopKeeper() {
  if (!keeper_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(keeper_mu_);
    if (keeper_stop_) return;
    keeper_stop_ = true;
    keeper_cv_.notify_one();
  }
  keeper_.join();
}

void Core::StopMonitorAndKeeper() {
  StopMonitor();
  StopKeeper();
  // Shutdown() waited for every task in flight, swept ones included, with
  // the keeper running: normally none is left.
  CompleteSweptTasks();
}

void Core::StopMonitor() {
  {
    std::lock_guard<std::mutex> lock(mon_mu_);
    if (mon_stop_) return;
    mon_stop_ = true;
    mon_cv_.notify_one();
  }
  monitor_.join();
}

void Core::RetireAllWorkersViaServers() {
  // At shutdown every task has finished, so each worker reaches the idle
  // pool (or is still on its way through the kernel's idle list).
  while (true) {
    bool all = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      DrainKernelLocked();
      RetireIdleLocked(idle_workers_.size());
      all = workers_.empty();
      while (!idle_servers_.empty() && resumed_head_ != nullptr) {
        WakeIdleServerLocked();
      }
    }
    JoinExitedWorkers(/*wait_all=*/all);
    if (all) return;
    absl::SleepFor(absl::Microseconds(500));
  }
}

void Core::RetireIdleLocked(size_t n) {
  // The oldest idle workers sit at the bottom of the stack. UMCG workers
  // wait in the kernel: a server must run them so that they can exit.
  for (size_t i = 0; i < n; ++i) {
    Worker* w = idle_workers_[i];
    retiring_.push_back(TakeWorkerLocked(w));
    w->in_idle = false;
    w->exit.store(true, std::memory_order_release);
    w->state.store(WorkerState::kRunnable, std::memory_order_relaxed);
    w->runnable_since_ns = MonotonicNanos();
    PushResumedLocked(*w, /*wake_server=*/false);
  }
  idle_workers_.erase(idle_workers_.begin(), idle_workers_.begin() + n);
  trim_frontier_ -= std::min(trim_frontier_, n);
  retired_.fetch_add(n, std::memory_order_relaxed);
}

void Core::WatchLostWorkers() {
  // No worker was lost since the last scan found none: a worker leaves
  // kLost/kReclaimed on its own or through this scan, and enters kLost only
  // through WatchRunningWorkers, which counts it.
  if (mon_lost_bound_ == 0) return;
  std::vector<Worker*>& lost = lost_scratch_;  // Capacity >= max_workers.
  lost.clear();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& w : workers_) {
      WorkerState state = w->state.load(std::memory_order_acquire);
      if (state == WorkerState::kReclaimed &&
          w->state.compare_exchange_strong(state, WorkerState::kRunnable,
                                           std::memory_order_acq_rel)) {
        w->runnable_since_ns = MonotonicNanos();
        PushResumedLocked(*w);
      } else if (state == WorkerState::kLost) {
        lost.push_back(w.get());
      }
    }
  }
  // The reclaimed are queued; a lost worker can still become reclaimed.
  mon_lost_bound_ = lost.size();
  // A lost worker that woke up runs without a CPU until its next runtime
  // call; interrupt it so it queues for one (bounding the overcommit),
  // once it has used kReclaimCpuNs of CPU since it was seen awake: it most
  // likely woke up holding the lock it slept on (malloc's, in W5), and
  // parked at once it would hold it until a server runs it again, with
  // every worker dispatched meanwhile asleep on that lock in turn.
  constexpr int64_t kReclaimCpuNs = 1'000'000;
  const int64_t now = MonotonicNanos();
  for (Worker* w : lost) {
    absl::StatusOr<ThreadStat> stat =
        ReadThreadStat(w->tid.load(std::memory_order_acquire));
    if (!stat.ok()) continue;
    if (stat->asleep()) {
      w->mon_awake_cpu_ns = Worker::kNotRead;
      continue;
    }
    const auto cpu_ns = static_cast<int64_t>(stat->runtime_ns);
    if (w->mon_awake_cpu_ns == Worker::kNotRead) {
      w->mon_awake_cpu_ns = cpu_ns;
      if (cpu_ns != 0) continue;  // Without schedstat, at once as before.
    }
    if (cpu_ns - w->mon_awake_cpu_ns < kReclaimCpuNs && cpu_ns != 0) continue;
    if (now - w->mon_reclaim_signal_ns < 1'000'000) continue;
    w->mon_reclaim_signal_ns = now;
    backend_->Interrupt(*w);
  }
}

void Core::SweepQueuedTasks() {
  bool swept = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A token counted here reads as cancelled below (CancellationsSoFar());
    // one counted later moves the count for the next sweep. Read under mu_,
    // which orders it against PushTaskLocked()'s look at the token: a task
    // queued after this read with a token cancelled before it sets
    // cancelled_task_queued_.
    const uint64_t cancellations = CancellationsSoFar();
    if (tasks_head_ == nullptr) {
      CheckInvariant(deadlined_tasks_ == 0, "deadline count off");
      swept_cancellations_ = cancellations;
      cancelled_task_queued_ = false;
      return;
    }
    TaskState* failed = nullptr;
    if (deadlined_tasks_ > 0 || cancelled_task_queued_ ||
        cancellations != swept_cancellations_) {
      swept_cancellations_ = cancellations;
      cancelled_task_queued_ = false;
      const absl::Time now = RealNow();
      failed = UnlinkTasksLocked([now](const TaskState& t) {
        return t.options.cancellation.IsCancelled() ||
               now >= t.options.deadline;
      });
    }
    // Completed by the keeper: completing wakes the task's waiters under
    // their event's mutex, which a parked waiter may hold.
    if (failed != nullptr) {
      TaskState* tail = failed;
      while (tail->next != nullptr) tail = tail->next;
      tail->next = swept_;
      swept_ = failed;
      swept = true;
    }
    // A server that parked because a worker was on its way asks nobody
    // again if that worker's thread could not start: ask for it here.
    if (tasks_head_ != nullptr && idle_workers_.empty() &&
        !idle_servers_.empty()) {
      RequestSpawnLocked();
    }
  }
  if (swept) KickKeeper(/*retire=*/false);
}

void Core::CompleteSweptTasks() {
  TaskState* swept = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    swept = std::exchange(swept_, nullptr);
  }
  FailTaskList(swept, nullptr);
}

void Core::RetireIdleWorkers(bool all) {
  // The keeper's (or, with all, Shutdown()'s once the keeper stopped):
  // RequestStackTrims() relies on no other thread freeing idle workers.
  // Reserved at start-up: no allocation under mu_, none per keeper chore.
  std::vector<std::unique_ptr<Worker>>& retired = retired_scratch_;
  retired.clear();
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t cutoff =
        MonotonicNanos() - ToNanos(options_.worker_idle_timeout);
    if (all) {
      retired = std::move(workers_);
      workers_.clear();
      idle_workers_.clear();
      trim_frontier_ = 0;
    } else {
      // Oldest idle workers sit at the bottom of the stack.
      size_t n = 0;
      const size_t keep_min = static_cast<size_t>(options_.min_workers);
      // A worker whose dispatcher has yet to wake it (Worker::wakes_due)
      // stays, and those above it, until the next look.
      while (n < idle_workers_.size() && workers_.size() - n > keep_min &&
             idle_workers_[n]->idle_since_ns <= cutoff &&
             idle_workers_[n]->wakes_due.load(std::memory_order_acquire) == 0) {
        ++n;
      }
      if (!backend_->cooperative()) {
        RetireIdleLocked(n);
        if (n > 0) WakeIdleServerLocked();
        return;
      }
      for (size_t i = 0; i < n; ++i) {
        retired.push_back(TakeWorkerLocked(idle_workers_[i]));
      }
      idle_workers_.erase(idle_workers_.begin(), idle_workers_.begin() + n);
      trim_frontier_ -= std::min(trim_frontier_, n);
      retired_.fetch_add(n, std::memory_order_relaxed);
    }
  }
  for (auto& w : retired) {
    w->exit.store(true, std::memory_order_release);
    w->parker.Unpark();
  }
  for (auto& w : retired) pthread_join(w->thread, nullptr);
  if (!retired.empty()) AwaitMonitorPass();
  retired.clear();
}

// ---------------------------------------------------------------------------
// Metrics.

MetricsSnapshot Core::metrics() const {
  MetricsSnapshot m;
  m.servers = static_cast<int>(servers_.size());
  {
    // A worker must not be preempted (parked) while it holds mu_: the
    // servers need mu_ to run it again.
    NoPreemptScope no_preempt(OwnWorker());
    std::lock_guard<std::mutex> lock(mu_);
    m.workers = static_cast<int>(workers_.size());
    m.idle_workers = static_cast<int>(idle_workers_.size());
    m.runnable_workers = resumed_count_;
    m.queued_tasks = static_cast<int>(tasks_count_);
  }
  m.running_workers = running_.load(std::memory_order_relaxed);
  m.blocked_workers = blocked_.load(std::memory_order_relaxed);
  m.tasks_submitted = submitted_.load(std::memory_order_relaxed);
  m.tasks_completed = completed_.load(std::memory_order_relaxed);
  m.tasks_failed = failed_.load(std::memory_order_relaxed);
  m.tasks_cancelled = cancelled_.load(std::memory_order_relaxed);
  m.tasks_expired = expired_.load(std::memory_order_relaxed);
  m.switches = switches_.load(std::memory_order_relaxed);
  m.blocks = blocks_.load(std::memory_order_relaxed);
  m.wakes = wakes_.load(std::memory_order_relaxed);
  m.direct_wakes = direct_wakes_.load(std::memory_order_relaxed);
  m.direct_dispatches = direct_dispatches_.load(std::memory_order_relaxed);
  m.stack_trims = stack_trims_.load(std::memory_order_relaxed);
  m.preemptions = preemptions_.load(std::memory_order_relaxed);
  m.detected_blocks = detected_.load(std::memory_order_relaxed);
  m.workers_created = created_.load(std::memory_order_relaxed);
  m.workers_retired = retired_.load(std::memory_order_relaxed);
  m.max_running_observed = max_running_.load(std::memory_order_relaxed);
  for (int i = 0; i < DelayHistogram::kBuckets; ++i) {
    m.queue_delay.buckets[i] = delay_[i].load(std::memory_order_relaxed);
  }
  return m;
}

}  // namespace umcg_rpc::runtime::internal
