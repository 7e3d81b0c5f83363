// Core::DebugState(): the scheduler's queues, servers and workers as text,
// for reports on a runtime that stopped making progress.
#include <sys/types.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/internal/clock.h"
#include "runtime/internal/core.h"

namespace umcg_rpc::runtime::internal {
namespace {

// Workers described one by one (the rest are only counted).
constexpr size_t kMaxListedWorkers = 128;
// How long DebugState() tries for the core mutex before it reports it held.
constexpr absl::Duration kLockPatience = absl::Milliseconds(200);

const char* StateName(WorkerState state) {
  switch (state) {
    case WorkerState::kIdle:
      return "idle";
    case WorkerState::kRunnable:
      return "runnable";
    case WorkerState::kRunning:
      return "running";
    case WorkerState::kBlocked:
      return "blocked";
    case WorkerState::kLost:
      return "lost";
    case WorkerState::kPreempted:
      return "preempted";
    case WorkerState::kReclaimed:
      return "reclaimed";
    case WorkerState::kReturned:
      return "returned";
  }
  return "?";
}
constexpr int kWorkerStates = static_cast<int>(WorkerState::kReturned) + 1;

const char* ReasonName(ReleaseReason reason) {
  switch (reason) {
    case ReleaseReason::kDone:
      return "done";
    case ReleaseReason::kBlocked:
      return "blocked";
    case ReleaseReason::kYield:
      return "yield";
    case ReleaseReason::kPreempted:
      return "preempted";
    case ReleaseReason::kLost:
      return "lost";
    case ReleaseReason::kExit:
      return "exit";
    case ReleaseReason::kSuspended:
      return "suspended";
  }
  return "?";
}

// What one server looked like, copied under the core mutex.
struct ServerView {
  int id = 0;
  pid_t tid = 0;
  int current = -1;  // Worker id; -1 none, -2 the lazily idle marker.
  WorkerState current_state = WorkerState::kIdle;
  ReleaseReason reason = ReleaseReason::kDone;
  int released = -1;
  bool idle = false;
  bool lazy_idle = false;
  char backend[96] = {};
};

// What one worker looked like, copied under the core mutex.
struct WorkerView {
  int id = 0;
  pid_t tid = 0;
  WorkerState state = WorkerState::kIdle;
  bool in_resumed = false;
  bool has_task = false;
  int server = -1;
  int64_t dispatch_age_ns = 0;
  uint64_t dispatch_seq = 0;
  uint64_t ack_seq = 0;
  char backend[96] = {};
};

}  // namespace

std::string Core::DebugState() const {
  // Everything is copied into storage reserved here, before mu_ is taken,
  // and formatted after it is released: nothing under mu_ allocates (see
  // "preemption safety" in docs/runtime.md).
  std::vector<ServerView> servers(servers_.size());
  std::vector<WorkerView> listed;
  listed.reserve(kMaxListedWorkers);
  int64_t by_state[kWorkerStates] = {};
  char backend[128] = {};
  size_t tasks = 0, idle_workers = 0, workers = 0, retiring = 0, timers = 0;
  int resumed = 0, pending_spawns = 0, starting = 0, helpers = 0;
  int64_t oldest_task_ns = -1, oldest_resumed_ns = -1;
  int first_resumed = -1;
  bool accepting = false, draining = false, exit = false;
  std::string out;
  out.reserve(4096 + 160 * kMaxListedWorkers);

  auto id_of = [this](const Worker* w) {
    if (w == nullptr) return -1;
    if (w == &lazy_idle_marker_) return -2;
    return w->id;
  };
  // From a worker: not preempted holding mu_ (the scope ends with the
  // copy; the formatting below allocates).
  std::optional<NoPreemptScope> no_preempt(std::in_place, OwnWorker());
  std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
  const int64_t give_up =
      MonotonicNanos() + absl::ToInt64Nanoseconds(kLockPatience);
  bool locked = lock.try_lock();
  while (!locked && MonotonicNanos() < give_up) {
    absl::SleepFor(absl::Microseconds(100));
    locked = lock.try_lock();
  }
  const int64_t now = MonotonicNanos();
  backend_->Describe(backend, sizeof(backend));
  for (size_t i = 0; i < servers_.size(); ++i) {
    Server& s = *servers_[i];
    ServerView& v = servers[i];
    v.id = s.id;
    v.tid = s.tid.load(std::memory_order_relaxed);
    // Racy without mu_: the keeper frees retired workers after releasing
    // it, so this is a best effort when the mutex is stuck.
    Worker* cur = s.current.load(std::memory_order_acquire);
    v.current = id_of(cur);
    if (cur != nullptr) {
      v.current_state = cur->state.load(std::memory_order_relaxed);
    }
    v.reason = s.reason.load(std::memory_order_relaxed);
    v.released = s.released_id.load(std::memory_order_relaxed);
    if (locked) {
      v.idle = s.idle;
      v.lazy_idle = s.lazy_idle;
    }
    backend_->Describe(s, v.backend, sizeof(v.backend));
  }
  if (locked) {
    tasks = tasks_count_;
    if (tasks_head_ != nullptr) oldest_task_ns = now - tasks_head_->enqueue_ns;
    resumed = resumed_count_;
    if (resumed_head_ != nullptr) {
      oldest_resumed_ns = now - resumed_head_->runnable_since_ns;
      first_resumed = resumed_head_->id;
    }
    idle_workers = idle_workers_.size();
    workers = workers_.size();
    retiring = retiring_.size();
    timers = timers_.size();
    pending_spawns = pending_spawns_;
    starting = starting_;
    helpers = helpers_;
    accepting = accepting_;
    draining = draining_;
    exit = exit_;
    for (const auto& owned : workers_) {
      Worker& w = *owned;
      const WorkerState state = w.state.load(std::memory_order_relaxed);
      ++by_state[static_cast<int>(state)];
      if (state == WorkerState::kIdle || listed.size() == listed.capacity()) {
        continue;
      }
      WorkerView& v = listed.emplace_back();
      v.id = w.id;
      v.tid = w.tid.load(std::memory_order_relaxed);
      v.state = state;
      v.in_resumed = w.in_resumed;
      v.has_task = w.task != nullptr;
      Server* s = w.server.load(std::memory_order_relaxed);
      v.server = s != nullptr ? s->id : -1;
      v.dispatch_age_ns = now - w.dispatch_ns.load(std::memory_order_relaxed);
      v.dispatch_seq = w.dispatch_seq.load(std::memory_order_relaxed);
      v.ack_seq = w.ack_seq.load(std::memory_order_relaxed);
      backend_->Describe(w, v.backend, sizeof(v.backend));
    }
    lock.unlock();
  }
  no_preempt.reset();

  auto ms = [](int64_t ns) { return static_cast<double>(ns) / 1e6; };
  absl::StrAppend(&out, "backend: ", BackendKindName(backend_->kind()), ", ",
                  backend, "\n");
  absl::StrAppend(
      &out, "tasks in flight=", in_flight_.load(std::memory_order_relaxed),
      " running=", running_.load(std::memory_order_relaxed),
      " blocked=", blocked_.load(std::memory_order_relaxed),
      " switches=", switches_.load(std::memory_order_relaxed),
      " completed=", completed_.load(std::memory_order_relaxed),
      " monitor_resting=", mon_resting_.load(std::memory_order_relaxed), "\n");
  if (!locked) {
    absl::StrAppend(&out, "core mutex: still held after ",
                    absl::FormatDuration(kLockPatience),
                    "; queues and workers not shown\n");
  } else {
    absl::StrAppend(&out, "queued tasks=", tasks);
    if (oldest_task_ns >= 0) {
      absl::StrAppend(&out, " (oldest ", ms(oldest_task_ns), " ms)");
    }
    absl::StrAppend(&out, " runnable workers=", resumed);
    if (first_resumed >= 0) {
      absl::StrAppend(&out, " (first w", first_resumed, ", waiting ",
                      ms(oldest_resumed_ns), " ms)");
    }
    absl::StrAppend(&out, " idle workers=", idle_workers, " of ", workers,
                    " retiring=", retiring, " pending_spawns=", pending_spawns,
                    " starting=", starting, " helpers=", helpers,
                    " timers=", timers, " accepting=", accepting,
                    " draining=", draining, " exit=", exit, "\n");
    absl::StrAppend(&out, "workers by state:");
    for (int i = 0; i < kWorkerStates; ++i) {
      if (by_state[i] > 0) {
        absl::StrAppend(&out, " ", StateName(static_cast<WorkerState>(i)), "=",
                        by_state[i]);
      }
    }
    absl::StrAppend(&out, "\n");
  }
  for (const ServerView& v : servers) {
    absl::StrAppend(&out, "server ", v.id, " tid ", v.tid, ": current=");
    if (v.current == -1) {
      absl::StrAppend(&out, "none");
    } else if (v.current == -2) {
      absl::StrAppend(&out, "lazy-idle marker");
    } else {
      absl::StrAppend(&out, "w", v.current, " (", StateName(v.current_state),
                      ")");
    }
    absl::StrAppend(&out, " last_release=", ReasonName(v.reason), " by ");
    if (v.released < 0) {
      absl::StrAppend(&out, "nobody");
    } else {
      absl::StrAppend(&out, "w", v.released);
    }
    if (locked) {
      absl::StrAppend(
          &out, v.idle ? (v.lazy_idle ? " lazily-idle" : " idle") : " busy");
    }
    absl::StrAppend(&out, " ", v.backend, "\n");
  }
  for (const WorkerView& v : listed) {
    absl::StrAppend(&out, "worker w", v.id, " tid ", v.tid, ": ",
                    StateName(v.state), v.in_resumed ? " queued" : "",
                    v.has_task ? " with task" : "", " server=", v.server,
                    " dispatched ", ms(v.dispatch_age_ns), " ms ago (seq ",
                    v.dispatch_seq, ", acked ", v.ack_seq, ") ", v.backend,
                    "\n");
  }
  const size_t non_idle =
      workers -
      static_cast<size_t>(by_state[static_cast<int>(WorkerState::kIdle)]);
  if (locked && non_idle > listed.size()) {
    absl::StrAppend(&out, "(", non_idle - listed.size(),
                    " more non-idle workers not listed)\n");
  }
  return out;
}

}  // namespace umcg_rpc::runtime::internal
