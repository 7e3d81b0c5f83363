#include "server/rpc/async_server.h"

#include <pthread.h>

#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/memory/memory.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "runtime/thread_policy.h"
#include "server/common/completion_tag.h"
#include "server/common/status_convert.h"
#include "umcgrpc/v1/workload.grpc.pb.h"

namespace umcg_rpc {

using umcgrpc::v1::Workload;

namespace {

// Calls requested ahead per method and per completion queue: how many new
// calls a queue can take while its thread is busy (in the epoll mode, while
// it runs a handler) before further calls wait unmatched inside gRPC.
constexpr int kRequestsAhead = 32;

// A tag that forwards its completion to a member function of `Owner`.
template <typename Owner, void (Owner::*kMethod)(bool)>
class MemberEvent final : public CompletionTag {
 public:
  explicit MemberEvent(Owner* owner) : owner_(owner) {}
  void OnComplete(bool ok) override { (owner_->*kMethod)(ok); }

 private:
  Owner* owner_;
};

}  // namespace

// One call in progress; owned by the CompletionQueueWorker it was requested
// on, which destroys it once gRPC has no more events for it.
class CallBase {
 public:
  virtual ~CallBase() = default;
  // Ends the call's work early.
  void Cancel(const absl::Status& reason) { cancellation_.Cancel(reason); }

 protected:
  workload::Cancellation cancellation_;
};

// Owns one completion queue, the thread that drains it, and the calls
// requested on it.
class CompletionQueueWorker {
 public:
  CompletionQueueWorker(AsyncServer& server, Workload::AsyncService& service,
                        std::unique_ptr<grpc::ServerCompletionQueue> cq)
      : server_(server), service_(service), cq_(std::move(cq)) {}

  ~CompletionQueueWorker() {
    if (thread_.joinable()) thread_.join();
  }

  // Requests the first calls and starts the thread, at nice value `nice`
  // (0: inherited), then makes it SCHED_BATCH if `batch`. An error names
  // the setting that failed; the thread runs all the same (the server's
  // destructor joins it).
  absl::Status Start(bool batch, int nice);

  // Requests one more call of method `M`, unless shutting down.
  template <typename M>
  void RequestCall();

  // Destroys `call`: it must have no events left.
  void Forget(CallBase* call) {
    std::unique_ptr<CallBase> doomed;
    absl::MutexLock lock(&mu_);
    auto it = calls_.find(call);
    if (it != calls_.end()) {
      doomed = std::move(it->second);
      calls_.erase(it);
    }
  }

  // Cancels every call requested on this queue.
  void CancelAll(const absl::Status& reason) {
    absl::MutexLock lock(&mu_);
    for (auto& [call, owned] : calls_) call->Cancel(reason);
  }

  // Shuts the queue down (no requests after this) and joins its thread
  // once every remaining event has been drained.
  void ShutdownAndJoin() {
    {
      absl::MutexLock lock(&mu_);
      shutting_down_ = true;
      cq_->Shutdown();
    }
    if (thread_.joinable()) thread_.join();
  }

  AsyncServer& server() { return server_; }
  // The queue, lent to handlers for their own client calls while they run.
  grpc::CompletionQueue* queue() { return cq_.get(); }

 private:
  AsyncServer& server_;
  Workload::AsyncService& service_;
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::thread thread_;
  absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<CallBase*, std::unique_ptr<CallBase>> calls_
      ABSL_GUARDED_BY(mu_);
};

namespace {

// The Echo method, for UnaryCall.
struct EchoMethod {
  using Request = umcgrpc::v1::EchoRequest;
  using Response = umcgrpc::v1::EchoResponse;
  static constexpr auto kRequest = &Workload::AsyncService::RequestEcho;
  static grpc::Status Handle(WorkloadHandlers& handlers, const Request& request,
                             Response* response, const CallInfo& call) {
    return handlers.Echo(request, response, call);
  }
};

// The Run method, for UnaryCall.
struct RunMethod {
  using Request = umcgrpc::v1::RunRequest;
  using Response = umcgrpc::v1::RunResponse;
  static constexpr auto kRequest = &Workload::AsyncService::RequestRun;
  static grpc::Status Handle(WorkloadHandlers& handlers, const Request& request,
                             Response* response, const CallInfo& call) {
    return handlers.Run(request, response, call);
  }
};

// One unary call of method `M`, from request to its last event:
//   requested -> (matched) -> admitted or refused -> handler on the
//   executor -> Finish; gRPC then delivers the finish and done events, in
//   either order, and the second of them destroys the call.
template <typename M>
class UnaryCall final : public CallBase {
 public:
  explicit UnaryCall(CompletionQueueWorker& worker) : worker_(worker) {}

  // Asks gRPC for the next call of this method; under the worker's lock.
  void Request(Workload::AsyncService& service,
               grpc::ServerCompletionQueue* cq) {
    context_.AsyncNotifyWhenDone(&done_event_);
    (service.*M::kRequest)(&context_, &request_, &responder_, cq, cq,
                           &request_event_);
  }

 private:
  void OnRequest(bool ok) {
    if (!ok) {  // The server is shutting down; no call was matched.
      worker_.Forget(this);
      return;
    }
    worker_.RequestCall<M>();
    AsyncServer& server = worker_.server();
    if (absl::Status reason = server.cancel_all_reason(); !reason.ok()) {
      Cancel(reason);
    }
    if (!server.limiter().TryAcquire()) {  // Counted by the limiter.
      responder_.FinishWithError(
          grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                       absl::StrCat("server is at its limit of ",
                                    server.limiter().limit(),
                                    " concurrent RPCs (--max-inflight); "
                                    "retry later")),
          &finish_event_);
      return;
    }
    server.HandlerStarting();
    if (absl::Status s = server.executor().Execute([this] { Handle(); });
        !s.ok()) {
      server.limiter().Release();
      server.RecordOutcome(false);
      responder_.FinishWithError(ToGrpcStatus(s), &finish_event_);
      server.HandlerDone();
    }
  }

  void Handle() {
    AsyncServer& server = worker_.server();
    CallInfo info;
    info.deadline = absl::FromChrono(context_.deadline());
    info.cancellation = &cancellation_;
    if (server.lends_queues_to_handlers()) {
      info.completion_queue = worker_.queue();
    }
    grpc::Status status =
        M::Handle(server.handlers(), request_, &response_, info);
    server.limiter().Release();
    server.RecordOutcome(status.ok());
    if (status.ok()) {
      responder_.Finish(response_, status, &finish_event_);
    } else {
      responder_.FinishWithError(status, &finish_event_);
    }
    server.HandlerDone();  // Last touch of the server by this handler.
  }

  void OnFinish(bool /*ok*/) { Unref(); }

  void OnDone(bool /*ok*/) {
    if (context_.IsCancelled()) {
      Cancel(absl::CancelledError(
          "the call was cancelled (by the client, or its connection closed)"));
    }
    Unref();
  }

  void Unref() {
    if (pending_events_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      worker_.Forget(this);  // Destroys *this: nothing may follow.
    }
  }

  CompletionQueueWorker& worker_;
  grpc::ServerContext context_;
  typename M::Request request_;
  typename M::Response response_;
  grpc::ServerAsyncResponseWriter<typename M::Response> responder_{&context_};
  // Once matched, the finish and done events are still to come.
  std::atomic<int> pending_events_{2};
  MemberEvent<UnaryCall, &UnaryCall::OnRequest> request_event_{this};
  MemberEvent<UnaryCall, &UnaryCall::OnFinish> finish_event_{this};
  MemberEvent<UnaryCall, &UnaryCall::OnDone> done_event_{this};
};

}  // namespace

template <typename M>
void CompletionQueueWorker::RequestCall() {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return;
  auto call = std::make_unique<UnaryCall<M>>(*this);
  UnaryCall<M>* raw = call.get();
  calls_.emplace(raw, std::move(call));
  raw->Request(service_, cq_.get());
}

absl::Status CompletionQueueWorker::Start(bool batch, int nice) {
  for (int i = 0; i < kRequestsAhead; ++i) {
    RequestCall<EchoMethod>();
    RequestCall<RunMethod>();
  }
  absl::Status status;
  thread_ = runtime::StartNicedThread(
      "grpc-cq", nice, [this] { DrainCompletionQueue(*cq_); }, &status);
  if (batch) status.Update(runtime::UseBatchPolicy(thread_.native_handle()));
  return status;
}

AsyncServer::AsyncServer(WorkloadHandlers& handlers, Executor& executor,
                         int64_t max_inflight, bool lend_queues)
    : handlers_(handlers),
      executor_(executor),
      limiter_(max_inflight),
      lend_queues_(lend_queues) {}

AsyncServer::~AsyncServer() {
  if (!shut_down_) Shutdown(absl::ZeroDuration());
}

absl::StatusOr<std::unique_ptr<AsyncServer>> AsyncServer::Start(
    const AsyncServerOptions& options, WorkloadHandlers& handlers,
    Executor& executor) {
  if (options.completion_queues < 1) {
    return absl::InvalidArgumentError("need at least one completion queue");
  }
  if (options.lend_queues_to_handlers && executor.RunsHandlersOnCaller()) {
    return absl::InvalidArgumentError(
        "cannot lend completion queues to handlers that run on the queues' "
        "own threads: a handler would wait for an event only its thread "
        "could take off the queue");
  }
  auto server =
      absl::WrapUnique(new AsyncServer(handlers, executor, options.max_inflight,
                                       options.lend_queues_to_handlers));
  auto service = std::make_unique<Workload::AsyncService>();

  grpc::EnableDefaultHealthCheckService(options.health_service);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(),
                           &server->port_);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  // gRPC sets SO_REUSEPORT by default, which lets a second server bind the
  // same port and silently take half the connections: refuse instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Two of gRPC's server filters this server has no use for, each of
  // which costs every call CPU time and 256 bytes of its 11.6 kB arena
  // (5 MiB with W5's 10,000 calls in flight). The deadline filter: the
  // client ends a call at its deadline, and handlers check the deadline
  // (still in ServerContext::deadline()) before and during every step;
  // what is lost is gRPC ending, on its own, a stream whose client keeps
  // it open past its deadline (the handler has answered by then). The
  // compression filter: the server never compresses its replies; without
  // it replies no longer advertise grpc-accept-encoding, and
  // ServerContext::set_compression_algorithm() would do nothing. (The
  // decompression filter stays: without it a compressed request cannot be
  // parsed; tested.)
  builder.AddChannelArgument(GRPC_ARG_ENABLE_DEADLINE_CHECKS, 0);
  builder.AddChannelArgument(GRPC_ARG_ENABLE_PER_MESSAGE_COMPRESSION, 0);
  builder.RegisterService(service.get());
  for (grpc::Service* extra : options.extra_services) {
    builder.RegisterService(extra);
  }
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs;
  cqs.reserve(options.completion_queues);
  for (int i = 0; i < options.completion_queues; ++i) {
    cqs.push_back(builder.AddCompletionQueue());
  }
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    server->shut_down_ = true;
    for (auto& cq : cqs) {
      cq->Shutdown();
      void* tag;
      bool ok;
      while (cq->Next(&tag, &ok)) {
      }
    }
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen,
                     " (address in use, or not a valid host:port?)"));
  }
  server->service_ = std::move(service);
  for (auto& cq : cqs) {
    server->workers_.push_back(std::make_unique<CompletionQueueWorker>(
        *server, *server->service_, std::move(cq)));
  }
  // Every queue's thread starts even if a policy cannot be set, so that the
  // server's destructor can shut all of them down and join them.
  absl::Status started;
  for (auto& worker : server->workers_) {
    started.Update(worker->Start(options.batch_cq_threads, options.cq_nice));
  }
  if (!started.ok()) return started;
  if (grpc::HealthCheckServiceInterface* health =
          server->server_->GetHealthCheckService()) {
    health->SetServingStatus(true);
  }
  return server;
}

void AsyncServer::MarkNotServing() {
  if (grpc::HealthCheckServiceInterface* health =
          server_->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
}

AsyncServerStats AsyncServer::stats() const {
  AsyncServerStats stats;
  stats.succeeded = succeeded_.load(std::memory_order_relaxed);
  stats.failed = failed_.load(std::memory_order_relaxed);
  stats.rejected = limiter_.rejected();
  stats.inflight = limiter_.inflight();
  return stats;
}

void AsyncServer::HandlerStarting() {
  active_handlers_.fetch_add(1, std::memory_order_relaxed);
}

void AsyncServer::HandlerDone() {
  // Release: the handler's last touches of its call happen before
  // Shutdown() sees the count drop.
  active_handlers_.fetch_sub(1, std::memory_order_release);
}

void AsyncServer::RecordOutcome(bool ok) {
  (ok ? succeeded_ : failed_).fetch_add(1, std::memory_order_relaxed);
}

absl::Status AsyncServer::cancel_all_reason() const {
  // Every call asks; only calls during a shutdown need the lock.
  if (!cancel_all_.load(std::memory_order_acquire)) return absl::OkStatus();
  absl::MutexLock lock(&cancel_mu_);
  return cancel_all_reason_;
}

void AsyncServer::CancelAll(const absl::Status& reason) {
  {
    absl::MutexLock lock(&cancel_mu_);
    if (cancel_all_reason_.ok()) cancel_all_reason_ = reason;
    cancel_all_.store(true, std::memory_order_release);
  }
  for (auto& worker : workers_) worker->CancelAll(reason);
}

uint64_t AsyncServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return 0;
  shut_down_ = true;
  MarkNotServing();
  const absl::Time deadline = absl::Now() + grace;
  // grpc::Server::Shutdown waits for in-flight calls until the deadline and
  // then cancels them inside gRPC; our handlers learn of that only through
  // their done events, which in the epoll mode queue behind the handler
  // itself. So cancel our side too when the grace runs out.
  // gRPC's own cancellation is set a little after ours, so that the calls
  // still running when the grace runs out are cancelled and counted here.
  // With both at the same instant, gRPC's could win: the call then ended
  // CANCELLED but was not counted (a flaky test under ASan showed it).
  // gRPC's is only a backstop for a handler that ignores ours.
  constexpr absl::Duration kGrpcBackstop = absl::Seconds(1);
  absl::Notification drained;
  std::thread stopper([this, deadline, kGrpcBackstop, &drained] {
    server_->Shutdown(absl::ToChronoTime(deadline + kGrpcBackstop));
    drained.Notify();
  });
  uint64_t cancelled = 0;
  if (!drained.WaitForNotificationWithDeadline(deadline)) {
    cancelled = static_cast<uint64_t>(limiter_.inflight());
    CancelAll(absl::UnavailableError(
        "the server is shutting down and its grace period ran out"));
  }
  stopper.join();
  // grpc::Server::Shutdown does not wait for handlers that have not run
  // yet (queued on a thread pool or on the runtime, their calls already
  // cancelled inside gRPC): they still touch their call objects and the
  // completion queues, so wait for every one of them (all cancelled by now
  // if the grace ran out, so they return at once).
  // Polled: this runs once per process, and keeps the per-call path to
  // two atomic operations.
  while (active_handlers_.load(std::memory_order_acquire) != 0) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  for (auto& worker : workers_) worker->ShutdownAndJoin();
  return cancelled;
}

}  // namespace umcg_rpc
