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

// A channel to another Workload server, and one thread that takes the
// answers off its completion queue. Thread-safe.
class DownstreamClient {
 public:
  DownstreamClient(const DownstreamClient&) = delete;
  DownstreamClient& operator=(const DownstreamClient&) = delete;
  // Every CallSleep must have returned.
  ~DownstreamClient();

  // Makes a plaintext channel to `target` (a gRPC target such as
  // "127.0.0.1:50052"); connects lazily, so the downstream may start later.
  // The client's thread runs at nice value `poller_nice` (0..19; 0 keeps
  // the inherited one); an error if that cannot be set.
  static absl::StatusOr<std::unique_ptr<DownstreamClient>> Create(
      const std::string& target, int poller_nice = 0);

  // Where this client sends its calls.
  const std::string& target() const { return target_; }

  // Calls Run with one sleep step of `sleep_micros` and waits for the
  // answer, or until `deadline` or `cancellation`. The downstream's error
  // comes back with its code and a message naming the downstream. The
  // caller only waits (runtime::WaitForEvent): the answer is
  // read by the client's own thread, not by the waiting one.
  absl::Status CallSleep(uint32_t sleep_micros, absl::Time deadline,
                         Cancellation& cancellation);

 private:
  DownstreamClient(std::string target,
                   std::unique_ptr<umcgrpc::v1::Workload::Stub> stub);

  // Starts the thread at nice value `nice`; the error if that cannot be
  // set (the thread runs all the same, and the destructor joins it).
  absl::Status StartPoller(int nice);

  // The thread's loop: each completion's tag is the runtime::Event its
  // caller waits on.
  void Poll();

  std::string target_;
  std::unique_ptr<umcgrpc::v1::Workload::Stub> stub_;
  grpc::CompletionQueue cq_;
  std::thread poller_;
};

}  // namespace umcg_rpc::workload

#endif  // UMCG_RPC_SERVER_WORKLOAD_DOWNSTREAM_H_
