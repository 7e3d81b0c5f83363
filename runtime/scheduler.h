// The runtime's entry point: a Scheduler runs submitted tasks on pooled
// worker threads, at most one RUNNING worker per server (CPU slot).
#ifndef UMCG_RPC_RUNTIME_SCHEDULER_H_
#define UMCG_RPC_RUNTIME_SCHEDULER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/metrics.h"
#include "runtime/options.h"
#include "runtime/task.h"

namespace umcg_rpc::runtime {

namespace internal {
class Core;
}  // namespace internal

// M:N scheduler of tasks onto workers onto server CPUs; thread-safe.
class Scheduler {
 public:
  // Picks the backend (logging the choice), starts the servers, the
  // monitor and options.min_workers workers.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(
      Options options = {});

  // Equivalent to Shutdown(ShutdownMode::kCancel).
  ~Scheduler();

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues `task` to run once on a worker. FAILED_PRECONDITION after
  // Shutdown, RESOURCE_EXHAUSTED if max_queued_tasks is reached,
  // INVALID_ARGUMENT for an empty task. Callable from any thread,
  // including the scheduler's own workers.
  absl::StatusOr<TaskHandle> Submit(Task task, TaskOptions options = {});

  // Stops accepting tasks, then drains or cancels (see ShutdownMode) and
  // waits for every in-flight task and thread. Idempotent. Must not be
  // called from one of this scheduler's workers (FAILED_PRECONDITION).
  absl::Status Shutdown(ShutdownMode mode = ShutdownMode::kDrain);

  // Counters and gauges, safe to call at any time from any thread.
  MetricsSnapshot metrics() const;

  // A multi-line, human-readable description of the run queues, each
  // server and every worker not idle, for diagnosing a runtime that has
  // stopped making progress. Racy by nature (a snapshot under the
  // scheduler's lock where it can be had within 200 ms, and says so where
  // it cannot); for people, not for decisions.
  std::string DebugState() const;

  // The backend in use (never kAuto).
  BackendKind backend() const;

  // Why that backend was chosen (the line logged at start-up).
  const std::string& backend_reason() const;

  // Number of servers (the bound on simultaneously RUNNING workers).
  int servers() const;

 private:
  explicit Scheduler(std::unique_ptr<internal::Core> core);
  std::unique_ptr<internal::Core> core_;
};

}  // namespace umcg_rpc::runtime

#endif  // UMCG_RPC_RUNTIME_SCHEDULER_H_
