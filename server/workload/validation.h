// Checks Workload requests against the limits before any work starts.
#ifndef UMCG_RPC_SERVER_WORKLOAD_VALIDATION_H_
#define UMCG_RPC_SERVER_WORKLOAD_VALIDATION_H_

#include "absl/status/status.h"
#include "umcgrpc/v1/workload.pb.h"

namespace umcg_rpc::workload {

// OK, or INVALID_ARGUMENT naming the field and the limit it breaks.
absl::Status ValidateEcho(const umcgrpc::v1::EchoRequest& request);

// OK, or INVALID_ARGUMENT naming the first step field that breaks a limit.
// Whether a read fits in the data file is checked when it runs.
absl::Status ValidateRun(const umcgrpc::v1::RunRequest& request);

}  // namespace umcg_rpc::workload

#endif  // UMCG_RPC_SERVER_WORKLOAD_VALIDATION_H_
