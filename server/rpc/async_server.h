// The gRPC front end: a completion-queue (async) server for the Workload
// service plus health checking and reflection. Each completion queue has one
// thread; RPC handlers run on the Executor it is given, which is what tells
// the server modes apart.
#ifndef UMCG_RPC_SERVER_RPC_ASYNC_SERVER_H_
#define UMCG_RPC_SERVER_RPC_ASYNC_SERVER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "server/rpc/executor.h"
#include "server/rpc/inflight_limiter.h"
#include "server/rpc/workload_handlers.h"
#include "umcgrpc/v1/workload.grpc.pb.h"

namespace umcg_rpc {

// How to start an AsyncServer.
struct AsyncServerOptions {
  // host:port to listen on; port 0 picks a free one (see AsyncServer::port).
  std::string listen = "127.0.0.1:50051";
  // Completion queues, each drained by its own thread.
  int completion_queues = 1;
  // Run those threads as SCHED_BATCH: their wake-ups (a call arrived, a
  // reply went out) then no longer preempt a running handler thread.
  bool batch_cq_threads = false;
  // Nice value of those threads (0..19): higher, and a busy CPU keeps
  // running handlers while events gather for the queue thread's next turn.
  int cq_nice = 0;
  // Calls worked on at once before new ones get RESOURCE_EXHAUSTED.
  int64_t max_inflight = 10000;
  // Lend each handler the completion queue its call came in on
  // (CallInfo::completion_queue), for its own client calls: their answers
  // are then read by a thread that is awake for the server's events anyway,
  // instead of waking one more. Only for executors that run handlers off
  // the queue threads (Start() refuses the others): a handler on its
  // queue's own thread would wait for an event only it could take off the
  // queue.
  bool lend_queues_to_handlers = false;
  // Serve grpc.health.v1.Health (gRPC's default implementation). It runs
  // on gRPC's callback queue, whose two threads also poll the connections
  // and take I/O from the completion-queue threads (docs/server.md).
  bool health_service = true;
  // Largest request message accepted, in bytes.
  int max_receive_message_bytes = (1 << 20) + (64 << 10);
  // More services to serve beside Workload (not owned; must outlive the
  // server), e.g. the ServerStats service.
  std::vector<grpc::Service*> extra_services;
};

// Counts of calls since start.
struct AsyncServerStats {
  uint64_t succeeded = 0;
  uint64_t failed = 0;  // Handled with an error status.
  // Refused past --max-inflight (not counted in `failed`).
  uint64_t rejected = 0;
  int64_t inflight = 0;
};

class CompletionQueueWorker;

// A running server. Thread-safe.
class AsyncServer {
 public:
  // Builds and starts the server: binds, marks itself SERVING for health
  // checks, and starts the completion-queue threads. `handlers` and
  // `executor` must outlive the server.
  static absl::StatusOr<std::unique_ptr<AsyncServer>> Start(
      const AsyncServerOptions& options, WorkloadHandlers& handlers,
      Executor& executor);

  AsyncServer(const AsyncServer&) = delete;
  AsyncServer& operator=(const AsyncServer&) = delete;
  // Shuts down at once if Shutdown() was not called.
  ~AsyncServer();

  // The port bound, useful when the options asked for port 0.
  int port() const { return port_; }

  AsyncServerStats stats() const;

  // Health checks answer NOT_SERVING from now on, so that load balancers
  // move away before the server stops taking calls.
  void MarkNotServing();

  // Graceful stop: reports NOT_SERVING, refuses new calls, lets in-flight
  // calls finish for up to `grace`, then cancels the rest and waits for
  // their handlers to return. Returns how many calls it had to cancel.
  uint64_t Shutdown(absl::Duration grace);

  // Cancels every in-flight call now (their handlers see the cancellation
  // at their next step). Calls that start afterwards are cancelled at once.
  void CancelAll(const absl::Status& reason);

  // Internal to the call objects: records the outcome of one call.
  void RecordOutcome(bool ok);
  // Internal to the call objects: a handler was handed to the executor, and
  // it has finished with its call (Shutdown waits for every one).
  void HandlerStarting();
  void HandlerDone();
  // Internal to the call objects.
  InflightLimiter& limiter() { return limiter_; }
  WorkloadHandlers& handlers() { return handlers_; }
  Executor& executor() { return executor_; }
  // Whether handlers get their call's queue in CallInfo.
  bool lends_queues_to_handlers() const { return lend_queues_; }
  // The status calls starting now must be cancelled with, or OK.
  absl::Status cancel_all_reason() const;

 private:
  AsyncServer(WorkloadHandlers& handlers, Executor& executor,
              int64_t max_inflight, bool lend_queues);

  WorkloadHandlers& handlers_;
  Executor& executor_;
  InflightLimiter limiter_;
  const bool lend_queues_;
  // Destroyed in reverse order: the grpc::Server first, the service last.
  std::unique_ptr<umcgrpc::v1::Workload::AsyncService> service_;
  std::vector<std::unique_ptr<CompletionQueueWorker>> workers_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
  std::atomic<uint64_t> succeeded_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<int64_t> active_handlers_{0};
  std::atomic<bool> cancel_all_{false};  // Set once cancel_all_reason_ is.
  mutable absl::Mutex cancel_mu_;
  absl::Status cancel_all_reason_ ABSL_GUARDED_BY(cancel_mu_);
};

}  // namespace umcg_rpc

#endif  // UMCG_RPC_SERVER_RPC_ASYNC_SERVER_H_
