#include "server/rpc/workload_handlers.h"

#include "server/common/status_convert.h"
#include "server/workload/step_runner.h"
#include "server/workload/validation.h"

namespace umcg_rpc {

grpc::Status WorkloadHandlers::Echo(const umcgrpc::v1::EchoRequest& request,
                                    umcgrpc::v1::EchoResponse* response,
                                    const CallInfo& /*call*/) {
  if (absl::Status s = workload::ValidateEcho(request); !s.ok()) {
    return ToGrpcStatus(s);
  }
  response->set_payload(request.payload());
  return grpc::Status::OK;
}

grpc::Status WorkloadHandlers::Run(const umcgrpc::v1::RunRequest& request,
                                   umcgrpc::v1::RunResponse* response,
                                   const CallInfo& call) {
  workload::StepContext context;
  context.data_file = data_file_.get();
  context.downstream = downstream_.get();
  context.downstream_queue = call.completion_queue;
  context.deadline = call.deadline;
  context.cancellation = call.cancellation;
  absl::StatusOr<umcgrpc::v1::RunResponse> result =
      workload::RunSteps(request, context);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace umcg_rpc
