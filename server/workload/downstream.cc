#include "server/workload/downstream.h"

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "runtime/blocking.h"
#include "server/common/status_convert.h"

namespace umcg_rpc::workload {

absl::StatusOr<std::unique_ptr<DownstreamClient>> DownstreamClient::Create(
    const std::string& target) {
  if (target.empty()) {
    return absl::InvalidArgumentError("downstream target is empty");
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  if (channel == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot make a channel to downstream '", target, "'"));
  }
  return absl::WrapUnique(
      new DownstreamClient(target, umcgrpc::v1::Workload::NewStub(channel)));
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
    // The synchronous call waits in the kernel: let the runtime know.
    runtime::BlockingScope blocking;
    status = stub_->Run(&context, request, &response);
  }
  if (status.ok()) return absl::OkStatus();
  if (cancellation.cancelled()) return cancellation.reason();
  return absl::Status(
      static_cast<absl::StatusCode>(status.error_code()),
      absl::StrCat("downstream ", target_, ": ", status.error_message()));
}

}  // namespace umcg_rpc::workload
