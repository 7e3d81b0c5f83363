// The client a server's downstream steps call through.
#ifndef UMCG_RPC_SERVER_WORKLOAD_DOWNSTREAM_H_
#define UMCG_RPC_SERVER_WORKLOAD_DOWNSTREAM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/completion_queue.h"
#include "server/workload/cancellation.h"
#include "umcgrpc/v1/workload.grpc.pb.h"

namespace umcg_rpc::workload {

// How a DownstreamClient takes its answers.
struct DownstreamOptions {
  // Give the client a completion queue of its own and a thread
  // (`downstream-cq`) that drains it, for callers that name no queue. Off,
  // every call must name a queue that another thread drains.
  bool own_queue = true;
  // That thread's nice value (0..19; 0 keeps the inherited one).
  int poller_nice = 0;
};

// A channel to another Workload server. Each call's answer arrives on a
// completion queue that some thread other than the caller drains: the
// caller's choice, or the client's own. Thread-safe.
class DownstreamClient {
 public:
  DownstreamClient(const DownstreamClient&) = delete;
  DownstreamClient& operator=(const DownstreamClient&) = delete;
  // Every CallSleep must have returned.
  ~DownstreamClient();

  // Makes a plaintext channel to `target` (a gRPC target such as
  // "127.0.0.1:50052"); connects lazily, so the downstream may start later.
  // An error if the own queue's thread cannot be given its nice value.
  static absl::StatusOr<std::unique_ptr<DownstreamClient>> Create(
      const std::string& target, const DownstreamOptions& options = {});

  // Where this client sends its calls.
  const std::string& target() const { return target_; }

  // Calls Run with one sleep step of `sleep_micros` and waits for the
  // answer, or until `deadline` or `cancellation`. The downstream's error
  // comes back with its code and a message naming the downstream. The
  // caller only waits (runtime::WaitForEvent): the answer is read by the
  // thread that drains `queue`, whose tags must all be CompletionTags
  // (server/common/completion_tag.h), or by the client's own thread when
  // `queue` is null (FAILED_PRECONDITION without an own queue).
  absl::Status CallSleep(uint32_t sleep_micros, absl::Time deadline,
                         Cancellation& cancellation,
                         grpc::CompletionQueue* queue = nullptr);

 private:
  DownstreamClient(std::string target,
                   std::unique_ptr<umcgrpc::v1::Workload::Stub> stub);

  // Makes the own queue and starts its thread at nice value `nice`; the
  // error if that cannot be set (the thread runs all the same, and the
  // destructor joins it).
  absl::Status StartOwnQueue(int nice);

  std::string target_;
  std::unique_ptr<umcgrpc::v1::Workload::Stub> stub_;
  std::unique_ptr<grpc::CompletionQueue> own_queue_;  // Null if not asked.
  std::thread poller_;                                // Drains own_queue_.
};

}  // namespace umcg_rpc::workload

#endif  // UMCG_RPC_SERVER_WORKLOAD_DOWNSTREAM_H_
