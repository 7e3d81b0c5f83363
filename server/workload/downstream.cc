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
#include "server/common/status_convert.h"

namespace umcg_rpc::workload {

DownstreamClient::DownstreamClient(
    std::string target, std::unique_ptr<umcgrpc::v1::Workload::Stub> stub)
    : target_(std::move(target)), stub_(std::move(stub)) {}

absl::Status DownstreamClient::StartPoller(int nice) {
  absl::Status niced;
  poller_ = runtime::StartNicedThread(
      "downstream-cq", nice, [this] { Poll(); }, &niced);
  return niced;
}

DownstreamClient::~DownstreamClient() {
  cq_.Shutdown();
  if (poller_.joinable()) poller_.join();
}

void DownstreamClient::Poll() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_.Next(&tag, &ok)) static_cast<runtime::Event*>(tag)->Notify();
}

absl::StatusOr<std::unique_ptr<DownstreamClient>> DownstreamClient::Create(
    const std::string& target, int poller_nice) {
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
  if (absl::Status started = client->StartPoller(poller_nice); !started.ok()) {
    return started;
  }
  return client;
}

absl::Status DownstreamClient::CallSleep(uint32_t sleep_micros,
                                         absl::Time deadline,
                                         Cancellation& cancellation) {
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
    // returns at a deadline or cancellation): gRPC writes `done`,
    // `response` and `status`, all on this frame, until then. On a worker
    // the runtime ends the wait (runtime::WaitForEvent).
    runtime::Event done;
    std::unique_ptr<grpc::ClientAsyncResponseReader<umcgrpc::v1::RunResponse>>
        reader = stub_->AsyncRun(&context, request, &cq_);
    reader->Finish(&response, &status, &done);
    runtime::WaitForEvent(done);
  }
  if (status.ok()) return absl::OkStatus();
  if (cancellation.cancelled()) return cancellation.reason();
  return absl::Status(
      static_cast<absl::StatusCode>(status.error_code()),
      absl::StrCat("downstream ", target_, ": ", status.error_message()));
}

}  // namespace umcg_rpc::workload
