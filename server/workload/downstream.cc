#include "server/workload/downstream.h"

#include <pthread.h>

#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "runtime/blocking.h"
#include "runtime/event.h"
#include "runtime/thread_policy.h"
#include "server/common/completion_tag.h"
#include "server/common/status_convert.h"

namespace umcg_rpc::workload {

namespace {

// A downstream call's finish tag: the event its caller waits on.
class FinishTag final : public CompletionTag {
 public:
  // A client call's Finish always completes with ok; its outcome is in
  // the status it wrote.
  void OnComplete(bool /*ok*/) override { done_.Notify(); }
  const runtime::Event& done() const { return done_; }

 private:
  runtime::Event done_;
};

}  // namespace

DownstreamClient::DownstreamClient(
    std::string target, std::unique_ptr<umcgrpc::v1::Workload::Stub> stub)
    : target_(std::move(target)), stub_(std::move(stub)) {}

absl::Status DownstreamClient::StartOwnQueue(int nice) {
  own_queue_ = std::make_unique<grpc::CompletionQueue>();
  absl::Status niced;
  poller_ = runtime::StartNicedThread(
      "downstream-cq", nice, [this] { DrainCompletionQueue(*own_queue_); },
      &niced);
  return niced;
}

DownstreamClient::~DownstreamClient() {
  if (own_queue_ != nullptr) own_queue_->Shutdown();
  if (poller_.joinable()) poller_.join();
}

absl::StatusOr<std::unique_ptr<DownstreamClient>> DownstreamClient::Create(
    const std::string& target, const DownstreamOptions& options) {
  if (target.empty()) {
    return absl::InvalidArgumentError("downstream target is empty");
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  if (channel == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot make a channel to downstream '", target, "'"));
  }
  auto client = absl::WrapUnique(
      new DownstreamClient(target, umcgrpc::v1::Workload::NewStub(channel)));
  if (options.own_queue) {
    if (absl::Status started = client->StartOwnQueue(options.poller_nice);
        !started.ok()) {
      return started;
    }
  }
  return client;
}

absl::Status DownstreamClient::CallSleep(uint32_t sleep_micros,
                                         absl::Time deadline,
                                         Cancellation& cancellation,
                                         grpc::CompletionQueue* queue) {
  if (queue == nullptr) queue = own_queue_.get();
  if (queue == nullptr) {
    return absl::FailedPreconditionError(
        "downstream client has no completion queue of its own and the "
        "caller named none");
  }
  umcgrpc::v1::RunRequest request;
  request.add_steps()->mutable_sleep()->set_micros(sleep_micros);
  umcgrpc::v1::RunResponse response;
  grpc::ClientContext context;
  if (deadline != absl::InfiniteFuture()) {
    context.set_deadline(absl::ToChronoTime(deadline));
  }
  grpc::Status status;
  {
    Cancellation::ScopedCallback cancel_call(
        cancellation, [&context] { context.TryCancel(); });
    // Asynchronous, so that the wait is only a wait: a synchronous call
    // would make this thread one of gRPC's pollers, reading and
    // dispatching other calls' I/O while the runtime counts it as blocked.
    // The call ends (OK, error, deadline or cancellation) with Finish's
    // tag, so the wait is for that alone (not runtime::AwaitEvent, which
    // returns at a deadline or cancellation): gRPC writes `response` and
    // `status`, and `queue`'s thread completes `finish`, all on this frame,
    // until then. On a worker the runtime ends the wait
    // (runtime::WaitForEvent).
    FinishTag finish;
    std::unique_ptr<grpc::ClientAsyncResponseReader<umcgrpc::v1::RunResponse>>
        reader = stub_->AsyncRun(&context, request, queue);
    reader->Finish(&response, &status, &finish);
    runtime::WaitForEvent(finish.done());
  }
  if (status.ok()) return absl::OkStatus();
  if (cancellation.cancelled()) return cancellation.reason();
  return absl::Status(
      static_cast<absl::StatusCode>(status.error_code()),
      absl::StrCat("downstream ", target_, ": ", status.error_message()));
}

}  // namespace umcg_rpc::workload
