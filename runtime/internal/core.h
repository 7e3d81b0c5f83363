// The scheduling core behind runtime::Scheduler: run queue, server loops,
// worker pool, monitor, shutdown. Backend-independent policy.
#ifndef UMCG_RPC_RUNTIME_INTERNAL_CORE_H_
#define UMCG_RPC_RUNTIME_INTERNAL_CORE_H_

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "runtime/internal/backend.h"
#include "runtime/internal/server.h"
#include "runtime/internal/suspension.h"
#include "runtime/internal/task_state.h"
#include "runtime/internal/timer_heap.h"
#include "runtime/internal/worker.h"
#include "runtime/metrics.h"
#include "runtime/options.h"
#include "runtime/task.h"

namespace umcg_rpc::runtime::internal {

// Implementation of Scheduler; see docs/runtime.md for the state machine.
class Core {
 public:
  // Validates options, picks the backend, starts servers and the monitor.
  static absl::StatusOr<std::unique_ptr<Core>> Create(Options options);
  ~Core();

  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  // Queues `task`; see Scheduler::Submit.
  absl::StatusOr<TaskHandle> Submit(Task task, TaskOptions options);
  // Stops accepting work and waits; see Scheduler::Shutdown.
  absl::Status Shutdown(ShutdownMode mode);
  // Current counters and gauges.
  MetricsSnapshot metrics() const;
  // A multi-line description of every queue, server and unusual worker,
  // for stall reports; see Scheduler::DebugState.
  std::string DebugState() const;
  // The backend in use and why it was picked.
  BackendKind backend_kind() const { return backend_->kind(); }
  const std::string& backend_reason() const { return backend_reason_; }
  int server_count() const { return static_cast<int>(servers_.size()); }
  bool cooperative() const { return backend_->cooperative(); }

  // Worker side: releases the CPU before a blocking operation.
  void EnterBlocking(Worker& w);
  // Worker side: queues for a CPU again after the blocking operation.
  void ExitBlocking(Worker& w);
  // Worker side, holding a CPU: releases it and sleeps until Resume(s) or
  // s.due_ns, then returns holding a CPU again. The thread is woken only
  // once a CPU is its own, where ExitBlocking() (fallback) or the kernel's
  // report of a block that ended would have it wake first and then queue
  // for one.
  void Suspend(Worker& w, Suspension& s);
  // Ends `s` (any thread but a signal handler; mu_ not held): its worker is
  // queued for a CPU, or started on an idle one. No-op once `s` has ended.
  void Resume(Suspension& s);
  // Worker side: gives the CPU to the next runnable worker, queues again.
  void Yield(Worker& w);
  // Worker side, from the preemption signal handler.
  void OnPreemptSignal(Worker& w);
  // Worker side: starts a no-preemption section (the runtime's own locks).
  void BeginNoPreempt(Worker& w);
  // Worker side: ends a no-preemption section, honouring a deferred signal.
  void EndNoPreempt(Worker& w);

 private:
  explicit Core(Options options);
  // The calling thread if it is one of this core's workers, else nullptr.
  Worker* OwnWorker() const;

  absl::Status Start();
  void Log(absl::string_view message) const;

  // Server thread.
  void ServerLoop(Server& s);
  // Fallback: queues the worker that left `s` by preemption (the signal
  // handler cannot take mu_); nothing for any other reason.
  void RequeueIfPreempted(Server& s);
  // How a server runs the worker NextLocked() found.
  enum class RunMode {
    kDispatch,  // Mark it RUNNING and switch to it (Dispatch()).
    kSwitch,    // Handed over by Submit, marked RUNNING: switch to it.
    kAwait,     // Handed over by Submit and already running: wait for it.
  };
  // The next worker for `s` and how to run it; false once the core exits.
  // Parks `s` while there is nothing to run.
  bool NextLocked(Server& s, Worker** w, RunMode* mode,
                  std::unique_lock<std::mutex>& lock)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Worker* PickNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True if resumed_head_ runs before tasks_head_: the one ordering rule
  // of both backends' hand-offs (see PickNextLocked()).
  bool ResumedGoesFirstLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks `w` RUNNING on `s` (bookkeeping only; does not wake it).
  void MarkRunning(Server& s, Worker& w);
  // Server side: runs `w` until the CPU comes back to the server thread;
  // returns the worker the kernel took off the CPU, if any (kernel only).
  Worker* Dispatch(Server& s, Worker& w);
  // Fallback: wakes `w`, marked RUNNING by this thread after it counted a
  // wake-up due (w.wakes_due) under mu_, and settles that count.
  void WakeAfterUnlock(Worker& w);
  // Worker side, after leaving kRunning: pools (kDone) or queues (kYield)
  // `from`, then starts the next runnable worker on `s` directly, or wakes
  // the server thread if there is none.
  // With `finished`, also detaches from.task into it under the lock.
  void HandOff(Server& s, Worker& from, ReleaseReason reason,
               std::shared_ptr<TaskState>* finished = nullptr);
  // Kernel backend's HandOff: keeps the CPU for the next queued task, or
  // gives it back to the server thread, which queues `from`.
  void HandOffToServer(Server& s, Worker& from, ReleaseReason reason,
                       std::shared_ptr<TaskState>* finished);

  // Worker thread.
  static void* WorkerMain(void* arg);
  void WorkerLoop(Worker& w);
  // A new worker's steps before its first dispatch; false if it could not
  // become a worker (then already handed to the keeper to join).
  bool SetUpWorker(Worker& w);
  // A retiring worker's last steps: leaves the CPU and the backend.
  void TearDownWorker(Worker& w);
  void RunTask(Worker& w);
  // Records where the calling worker's stack lies (w.stack).
  void FindStack(Worker& w);
  // Worker side, at the top of its loop when stacks are trimmed:
  // AwaitDispatch(), trimming the stack each time the monitor asks
  // (RequestStackTrims()).
  void AwaitDispatchOrTrim(Worker& w);
  // Keeper: asks each worker idle for options_.idle_stack_trim_delay
  // since a task to trim its stack.
  void RequestStackTrims();
  // Gives back the calling worker's stack pages below its stack pointer.
  void TrimStack(Worker& w);
  void LogTrimFailure(const Worker& w, const absl::Status& status);
  // A worker that cannot be used leaves it to the keeper to join.
  void AbandonWorker(Worker& w);
  // Joins retired workers that have exited (all of them, with wait_all).
  void JoinExitedWorkers(bool wait_all);
  // Worker side: waits until dispatched (async-signal-safe).
  void AwaitDispatch(Worker& w);
  // Worker side, once a wait for dispatch has returned: true if the
  // monitor revoked the dispatch before this thread started it (it found
  // the thread asleep elsewhere); the worker is then kReclaimed, for the
  // monitor to queue again, and must wait again (async-signal-safe).
  bool DispatchRevoked(Worker& w);
  // Worker side: marks its current dispatch as started (async-signal-safe).
  void AcknowledgeDispatch(Worker& w);
  // Records that `w` released `s` and why, leaving `current` at `now`:
  // nullptr, or the lazily idle marker (async-signal-safe).
  void MarkReleased(Server& s, Worker& w, ReleaseReason reason,
                    Worker* now = nullptr);
  // MarkReleased, then wakes the server thread (fallback; async-signal-safe).
  void ReleaseServer(Server& s, Worker& w, ReleaseReason reason);

  // Queues and pools (mu_ held).
  void PushIdleLocked(Worker& w, bool wake_server = true)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PushResumedLocked(Worker& w, bool wake_server = true)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Worker* PopResumedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Pops an idle server and wakes it, if there is one.
  void WakeIdleServerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds `s` to idle_servers_ (whoever takes it from there wakes it).
  void ListIdleServerLocked(Server& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes `s`, which is listed, out of idle_servers_ without waking it.
  void UnlistIdleServerLocked(Server& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True if a worker could be dispatched right now (a resumed worker, or a
  // queued task and an idle worker to run it).
  bool RunnableWorkLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // An idle server to wake (after releasing mu_) if RunnableWorkLocked().
  Server* TakeIdleServerIfWorkLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes `w` from workers_ and returns its ownership.
  std::unique_ptr<Worker> TakeWorkerLocked(Worker* w)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Kernel backend: queues the workers the kernel made runnable.
  void DrainKernelLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnKernelRunnableLocked(Worker& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Kernel backend, server side: `w` blocked, was preempted or died.
  void OnKernelStopLocked(Server& s, Worker& w)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Kernel backend, server side: queues the worker that released `s`.
  void OnReleasedLocked(Server& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Pops an idle server (to Unpark after releasing mu_), or nullptr.
  Server* TakeIdleServerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts the end of `w`'s block (or suspension) and marks it runnable from
  // now, for the queue-delay figures.
  void CountBlockEndLocked(Worker& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `w`'s block (or suspension) is over: starts it on a lazily idle server if
  // `may_claim` and one is free (returned; `w` is then RUNNING there), else
  // queues it as resumed (with `wake`, *wake is an idle server to unpark
  // after releasing mu_, if any) and returns nullptr.
  Server* EndBlockLocked(Worker& w, bool may_claim, Server** wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the suspended `s`: starts its worker on a lazily idle server if
  // `may_claim` and one is free (fallback; *direct: wake it with
  // WakeAfterUnlock()), else queues it as resumed (with `wake`, *wake is an
  // idle server to unpark after releasing mu_, if any). Kernel backend: a
  // worker its server has not yet seen leave is left for that server to
  // queue; one inside umcg_wait() is started on a parked server if
  // `may_claim` (the caller can wake UMCG threads) and nothing is ahead of
  // it (StartOnParkedServerLocked(); *wake: that server if the worker
  // could not be started yet), else queued.
  void ResumeSuspendedLocked(Suspension& s, bool may_claim, Worker** direct,
                             Server** wake) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Kernel-backend Suspend(): gives the CPU back to the server, which
  // queues the worker only once Resume() or the timer ended the wait.
  void SuspendOnKernel(Worker& w, Suspension& s);
  // Arms `s`'s timer, if it has one; true if the monitor must be kicked to
  // see it in time.
  bool ArmTimerLocked(Suspension& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A server picking: queues the workers whose timers are due.
  void ExpireDueTimersLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Monitor: resumes the workers whose timers are due.
  void ExpireTimers();
  // Monitor: caps `wait` at the next timer and records when it wakes.
  absl::Duration PlanMonitorWake(absl::Duration wait);
  // Stores timers_.NextDue() for the monitor (after each heap change).
  void PublishNextTimerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fallback: takes a lazily idle server off the idle list for a worker
  // that stopped blocking or a task just submitted, if nothing else is
  // runnable; else nullptr.
  Server* ClaimLazyIdleServerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fallback, Submit: if `t` is next in line and a lazily idle server and an
  // idle worker are free, marks the worker RUNNING on that server with `t`
  // and returns it, to be woken (Backend::WakeDispatched()) before mu_ is
  // released; else nullptr, and `t` is to be queued.
  Worker* StartOnLazyIdleServerLocked(const std::shared_ptr<TaskState>& t)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Kernel backend, Submit from a thread that may wake UMCG threads: if `t`
  // is next in line and an idle server and an idle worker are free, marks
  // the worker RUNNING on that server with `t` and starts it there without
  // waking the server's thread (Backend::StartOnParkedServer()), or, if it
  // cannot be started yet, sets `*wake` to the server, which switches to
  // it itself. Returns false if `t` is to be queued (having drained the
  // kernel's runnable workers, which then go first).
  bool HandToParkedServerLocked(const std::shared_ptr<TaskState>& t,
                                Server** wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Kernel backend: an idle server taken off the idle list for a worker
  // to start there, if nothing queued or runnable (after a drain of the
  // kernel's list) goes before it; else nullptr.
  Server* TakeParkedServerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Kernel backend: marks `w` (IDLE inside umcg_wait()) RUNNING on `s`, from
  // TakeParkedServerLocked(), and starts it there without waking the
  // server's thread (Backend::StartOnParkedServer()); returns true, or, if
  // it cannot be started yet, false with `*wake` set to `s`, whose thread
  // then switches to it itself.
  bool StartOnParkedServerLocked(Server& s, Worker& w, Server** wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Pops the most recently pooled idle worker (idle_workers_ not empty).
  Worker* TakeIdleWorkerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `s` leaves the idle list's bookkeeping; a lazily idle one gets
  // current == nullptr, so that its thread leaves SwitchTo() when woken.
  void UnidleLocked(Server& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fallback: `from` finished or blocked with nothing else to run; lists
  // `s` idle without waking its thread, which keeps waiting in SwitchTo().
  void ListLazilyIdleLocked(Server& s, Worker& from, ReleaseReason reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RequestSpawnLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PushTaskLocked(std::shared_ptr<TaskState> t)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<TaskState> PopTaskLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Unlinks queued tasks matching `pred` into a private list (no
  // allocation); returns its head, linked through TaskState::next.
  template <typename Pred>
  TaskState* UnlinkTasksLocked(Pred pred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fails every task of a list built by UnlinkTasksLocked (mu_ not held),
  // then buries it (BuryTask()), so that no destructor of a task's runs
  // on the keeper, which must go on creating workers.
  void FailTaskList(TaskState* head, const absl::Status* forced);
  // Hands a failed task, its captures and its memory to the graveyard,
  // which a worker empties after its next task (any thread; lock-free).
  void BuryTask(TaskState* t);
  // Destroys the captures of, and releases, every buried task.
  void EmptyGraveyard();

  // Task outcomes.
  // Completes a task that did not run with `status` (cancelled or expired;
  // its captures are the caller's to destroy).
  void FailTask(TaskState& t, absl::Status status);
  // OK, or one of the statuses built at start-up below.
  absl::Status CheckStillWanted(const TaskState& t) const;
  void RecordDelay(int64_t since_ns);

  // Monitor thread.
  void MonitorLoop();
  void KickMonitor();
  // Kicks the monitor if it rests (any thread; not from a signal handler).
  void WakeRestingMonitor();
  // Monitor: marks it resting and returns how long it may sleep: zero if
  // something is to watch after all (a worker running, a task queued, a
  // spawn pending), infinite if nothing is due, else until an idle
  // worker's trim or retirement is.
  absl::Duration BeginRest();
  // When the oldest idle worker not yet asked to trim is due to be, and
  // when the oldest idle worker above min_workers is due to retire
  // (MonotonicNanos() time; INT64_MAX: none).
  int64_t NextTrimDueLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t NextRetireDueLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Keeper thread: the chores that may take allocator locks (creating,
  // joining and freeing workers) and idle workers' trims. The monitor
  // must never wait for such a lock, since only it frees CPUs held by
  // workers asleep on one (see "Preemption safety" in docs/runtime.md).
  void KeeperLoop();
  // Asks the keeper to run its chores, with idle retirement if `retire`
  // (any thread, mu_ held or not; not from a signal handler).
  void KickKeeper(bool retire);
  // Monitor: whether a keeper chore is due at `now` (retirement only if
  // `retire`).
  bool KeeperChoresDue(int64_t now, bool retire);
  // Keeper: returns once the monitor is outside the pass over workers it
  // was in, if any, so that workers unlinked before the call can be freed.
  void AwaitMonitorPass();
  // Shutdown(): stops both, then completes any task still swept.
  void StopMonitorAndKeeper();
  void StopKeeper();
  // Creates workers while spawns are pending (the keeper, and during a
  // burst new workers too, before they register: see WorkerLoop()).
  void SpawnPendingWorkers();
  // A new worker's first step: records its thread's handle, then takes
  // part in a burst's spawning if it may.
  void WorkerStarted(Worker& w);
  // A new worker is in the idle pool for the first time, or never will be.
  void CountRegisteredLocked(Worker& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WatchRunningWorkers();
  // Makes `w` kLost if it is still RUNNING in dispatch `seq`, and returns
  // the server whose CPU it held (the caller releases it), else nullptr.
  Server* DeclareLost(Worker& w, uint64_t seq);
  // Re-queues reclaimed workers and nudges lost ones that woke up. Scans
  // the workers only while mon_lost_bound_ > 0.
  void WatchLostWorkers();
  // Monitor: moves queued tasks that were cancelled or expired to swept_,
  // for the keeper to complete.
  void SweepQueuedTasks();
  // Keeper (and Shutdown() once it stopped): completes the swept tasks.
  void CompleteSweptTasks();
  void RetireIdleWorkers(bool all);
  // Kernel backend: the `n` oldest idle workers are queued to exit.
  void RetireIdleLocked(size_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Kernel backend, at shutdown: retires every worker and joins it.
  void RetireAllWorkersViaServers();
  // Kernel backend: time-slice preemption of running workers.
  void WatchTimeSlices();
  void StopMonitor();
  std::vector<Worker*> lost_scratch_;  // Monitor only; reserved up front.
  // What a lazily idle server's `current` points at: never a real worker,
  // never kRunning, so RunningWorkerOn() sees no worker there.
  Worker lazy_idle_marker_;
  // Monitor only: at least the number of workers in kLost or kReclaimed.
  // Only the monitor makes a worker kLost (and counts it here); each scan
  // of WatchLostWorkers recounts. While it is 0 the monitor does not walk
  // every worker under mu_ each tick (10,000 of them in a fan-in burst).
  size_t mon_lost_bound_ = 0;
  // Workers being joined by RetireIdleWorkers / JoinExitedWorkers (keeper,
  // then Shutdown; never both at once); reserved up front.
  std::vector<std::unique_ptr<Worker>> retired_scratch_;
  // Workers RequestStackTrims() wakes (keeper only); reserved up front.
  std::vector<Worker*> trim_scratch_;
  // The worker holding `s`'s CPU if it is kRunning, else nullptr (monitor).
  Worker* RunningWorkerOn(const Server& s) const;

  const Options options_;
  std::unique_ptr<Backend> backend_;
  std::string backend_reason_;
  std::vector<std::unique_ptr<Server>> servers_;

  // std::mutex rather than absl::Mutex: ThreadSanitizer must see it, and
  // the system Abseil is not built with TSan.
  mutable std::mutex mu_;
  // Queued tasks: intrusive FIFO through TaskState::next (no allocation
  // under mu_: see "preemption safety" in docs/runtime.md).
  TaskState* tasks_head_ ABSL_GUARDED_BY(mu_) = nullptr;
  TaskState* tasks_tail_ ABSL_GUARDED_BY(mu_) = nullptr;
  size_t tasks_count_ ABSL_GUARDED_BY(mu_) = 0;
  // What the monitor's sweep has to look for. Without a queued deadline, a
  // token cancelled since the last sweep, or a task queued with its token
  // already cancelled, no queued task can have become unwanted, and the
  // sweep leaves the queue alone (it would walk thousands of tasks under
  // mu_ every 10 ms in a burst).
  // Queued tasks with a finite deadline.
  size_t deadlined_tasks_ ABSL_GUARDED_BY(mu_) = 0;
  // A task was queued with its token already cancelled since the last walk.
  bool cancelled_task_queued_ ABSL_GUARDED_BY(mu_) = false;
  // CancellationsSoFar() as of the last walk (or look at an empty queue).
  uint64_t swept_cancellations_ ABSL_GUARDED_BY(mu_) = 0;
  Worker* resumed_head_ ABSL_GUARDED_BY(mu_) = nullptr;
  Worker* resumed_tail_ ABSL_GUARDED_BY(mu_) = nullptr;
  int resumed_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Worker*> idle_workers_ ABSL_GUARDED_BY(mu_);
  // RequestStackTrims() has seen idle_workers_[0, trim_frontier_).
  size_t trim_frontier_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Server*> idle_servers_ ABSL_GUARDED_BY(mu_);
  // Timers of suspended waits (Suspend()), one per worker at most,
  // reserved up front.
  TimerHeap timers_ ABSL_GUARDED_BY(mu_);
  // timers_.NextDue(), stored under mu_ whenever the heap changes, so that
  // the monitor looks at the timers without taking mu_ when none is due.
  std::atomic<int64_t> next_timer_due_ns_{INT64_MAX};
  // When the monitor's current wait ends (MonotonicNanos() time; INT64_MAX:
  // until kicked): a timer due sooner kicks it (Suspend()). seq_cst with
  // next_timer_due_ns_: either the monitor sees a new timer or its pusher
  // sees the planned wake-up.
  std::atomic<int64_t> mon_wake_at_ns_{INT64_MAX};
  std::vector<std::unique_ptr<Worker>> workers_ ABSL_GUARDED_BY(mu_);
  // Kernel backend: retired workers until their threads have exited.
  std::vector<std::unique_ptr<Worker>> retiring_ ABSL_GUARDED_BY(mu_);
  // Workers the keeper is asked to create and has not created yet.
  int pending_spawns_ ABSL_GUARDED_BY(mu_) = 0;
  // Workers created whose threads have not registered as idle yet.
  int starting_ ABSL_GUARDED_BY(mu_) = 0;
  // New workers helping to create the rest of a burst (at most servers).
  int helpers_ ABSL_GUARDED_BY(mu_) = 0;
  // How many workers the next spawn request may ask for: 0 when there is
  // no burst, then the server count, doubling while each batch is used up
  // by blocking tasks (see RequestSpawnLocked()).
  int spawn_batch_ ABSL_GUARDED_BY(mu_) = 0;
  int next_worker_id_ ABSL_GUARDED_BY(mu_) = 0;
  // The monitor and fallback servers run as SCHED_BATCH, and workers
  // return to SCHED_OTHER: options_.batch_runtime_threads under a
  // SCHED_OTHER creator (set in Start(), then read-only).
  bool batch_runtime_threads_ = false;
  // Idle workers' stacks are trimmed (fallback backend, and
  // options_.idle_stack_trim_delay > 0), once idle for idle_trim_ns_, or
  // as they go idle after a task that lasted that long. Set in Start(),
  // then read-only.
  bool trim_stacks_ = false;
  int64_t idle_trim_ns_ = 0;
  // Buried tasks (BuryTask()): a lock-free stack through TaskState::next,
  // each holding itself alive through TaskState::self.
  std::atomic<TaskState*> graveyard_{nullptr};
  // Tasks the monitor's sweep unlinked, for the keeper to complete; linked
  // through TaskState::next.
  TaskState* swept_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Errors built once: copies share the message, so returning one
  // allocates nothing, under mu_ (Submit) or on the keeper (the sweep).
  const absl::Status cancelled_while_queued_ =
      absl::CancelledError("task cancelled before it started");
  const absl::Status expired_while_queued_ =
      absl::DeadlineExceededError("task deadline passed while queued");
  const absl::Status not_accepting_ = absl::FailedPreconditionError(
      "Submit after Shutdown: the scheduler no longer accepts tasks");
  const absl::Status queue_full_ = absl::ResourceExhaustedError(absl::StrCat(
      "run queue full (", options_.max_queued_tasks, " queued tasks)"));
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool exit_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<int64_t> in_flight_{0};

  std::mutex shutdown_mu_;  // Serialises Shutdown() callers.

  std::thread monitor_;
  std::mutex mon_mu_;
  std::condition_variable mon_cv_;
  // The monitor sleeps past its tick, until kicked or an idle worker's
  // trim or retirement is due (BeginRest()); a dispatch or a submission
  // that sees it set wakes it (WakeRestingMonitor()).
  std::atomic<bool> mon_resting_{false};
  bool mon_stop_ ABSL_GUARDED_BY(mon_mu_) = false;
  bool mon_kick_ ABSL_GUARDED_BY(mon_mu_) = false;
  // Odd while the monitor's pass holds pointers to workers; the keeper
  // frees a worker only once a pass that may have found it has ended.
  std::atomic<uint64_t> mon_pass_{0};

  std::thread keeper_;
  std::mutex keeper_mu_;  // Taken under mu_ too (KickKeeper()).
  std::condition_variable keeper_cv_;
  bool keeper_stop_ ABSL_GUARDED_BY(keeper_mu_) = false;
  bool keeper_kick_ ABSL_GUARDED_BY(keeper_mu_) = false;
  bool keeper_retire_ ABSL_GUARDED_BY(keeper_mu_) = false;

  // Metrics.
  std::atomic<int> running_{0};
  std::atomic<int> max_running_{0};
  std::atomic<int> blocked_{0};
  std::atomic<uint64_t> submitted_{0}, completed_{0}, failed_{0}, cancelled_{0},
      expired_{0}, switches_{0}, blocks_{0}, wakes_{0}, direct_wakes_{0},
      direct_dispatches_{0}, preemptions_{0}, detected_{0}, created_{0},
      retired_{0}, stack_trims_{0};
  std::array<std::atomic<uint64_t>, DelayHistogram::kBuckets> delay_{};
};

// RAII: masks time-slice preemption of the calling worker while the runtime
// holds locks the servers or the monitor need.
class NoPreemptScope {
 public:
  explicit NoPreemptScope(Worker* w);
  ~NoPreemptScope();
  // True if the scope masks a worker (i.e. the caller is a worker).
  bool active() const { return w_ != nullptr; }
  NoPreemptScope(const NoPreemptScope&) = delete;
  NoPreemptScope& operator=(const NoPreemptScope&) = delete;

 private:
  Worker* w_;
};

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_CORE_H_
