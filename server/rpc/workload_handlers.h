// The Workload service's logic, independent of how calls reach it.
#ifndef UMCG_RPC_SERVER_RPC_WORKLOAD_HANDLERS_H_
#define UMCG_RPC_SERVER_RPC_WORKLOAD_HANDLERS_H_

#include <memory>

#include "absl/time/time.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/support/status.h"
#include "server/workload/cancellation.h"
#include "server/workload/data_file.h"
#include "server/workload/downstream.h"
#include "umcgrpc/v1/workload.pb.h"

namespace umcg_rpc {

// What a handler knows about the call it serves.
struct CallInfo {
  absl::Time deadline = absl::InfiniteFuture();
  workload::Cancellation* cancellation = nullptr;
  // A completion queue that a thread other than the handler's drains, on
  // which the handler's own client calls may complete (the queue the call
  // came in on); null when the server lends none (the epoll mode, whose
  // handlers run on the queues' threads, or --downstream-cq=own). Valid
  // only while the handler runs: every operation it starts there must have
  // completed before it returns (the server shuts its queues down once the
  // last handler has returned), and every tag must be a CompletionTag
  // (server/common/completion_tag.h).
  grpc::CompletionQueue* completion_queue = nullptr;
};

// Thread-safe: any number of handler threads may call in at once.
class WorkloadHandlers {
 public:
  // `downstream` may be null (downstream steps then fail).
  WorkloadHandlers(std::unique_ptr<workload::DataFile> data_file,
                   std::unique_ptr<workload::DownstreamClient> downstream)
      : data_file_(std::move(data_file)), downstream_(std::move(downstream)) {}

  grpc::Status Echo(const umcgrpc::v1::EchoRequest& request,
                    umcgrpc::v1::EchoResponse* response, const CallInfo& call);

  grpc::Status Run(const umcgrpc::v1::RunRequest& request,
                   umcgrpc::v1::RunResponse* response, const CallInfo& call);

 private:
  std::unique_ptr<workload::DataFile> data_file_;
  std::unique_ptr<workload::DownstreamClient> downstream_;
};

}  // namespace umcg_rpc

#endif  // UMCG_RPC_SERVER_RPC_WORKLOAD_HANDLERS_H_
