// Runs a Run request's steps in order: the body of the Run RPC.
#ifndef UMCG_RPC_SERVER_WORKLOAD_STEP_RUNNER_H_
#define UMCG_RPC_SERVER_WORKLOAD_STEP_RUNNER_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/completion_queue.h"
#include "server/workload/cancellation.h"
#include "server/workload/data_file.h"
#include "server/workload/downstream.h"
#include "umcgrpc/v1/workload.pb.h"

namespace umcg_rpc::workload {

// What the steps of one call may use.
struct StepContext {
  // Required: the file read steps read from.
  const DataFile* data_file = nullptr;
  // Optional: where downstream steps go; null fails them FAILED_PRECONDITION.
  DownstreamClient* downstream = nullptr;
  // Optional: the completion queue downstream answers arrive on, drained by
  // another thread (DownstreamClient::CallSleep); null: the client's own.
  grpc::CompletionQueue* downstream_queue = nullptr;
  // The call's deadline; steps stop with DEADLINE_EXCEEDED when it passes.
  absl::Time deadline = absl::InfiniteFuture();
  // Required: ends the steps early with its reason when cancelled.
  Cancellation* cancellation = nullptr;
};

// Validates `request`, then runs its steps in order, stopping at the first
// failure. Sleeps and downstream calls block the calling thread.
absl::StatusOr<umcgrpc::v1::RunResponse> RunSteps(
    const umcgrpc::v1::RunRequest& request, const StepContext& context);

}  // namespace umcg_rpc::workload

#endif  // UMCG_RPC_SERVER_WORKLOAD_STEP_RUNNER_H_
