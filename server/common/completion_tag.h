// The one kind of tag this server puts on gRPC completion queues, so that
// any of its threads can drain any of its queues.
#ifndef UMCG_RPC_SERVER_COMMON_COMPLETION_TAG_H_
#define UMCG_RPC_SERVER_COMMON_COMPLETION_TAG_H_

#include "grpcpp/completion_queue.h"

namespace umcg_rpc {

// What every tag handed to a completion queue points at: the thread that
// takes the event off the queue calls OnComplete() with the event's `ok`.
// The tag must outlive its event.
class CompletionTag {
 public:
  virtual void OnComplete(bool ok) = 0;

 protected:
  ~CompletionTag() = default;
};

// Takes events off `cq` and completes their tags until the queue is shut
// down and empty.
inline void DrainCompletionQueue(grpc::CompletionQueue& cq) {
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) static_cast<CompletionTag*>(tag)->OnComplete(ok);
}

}  // namespace umcg_rpc

#endif  // UMCG_RPC_SERVER_COMMON_COMPLETION_TAG_H_
