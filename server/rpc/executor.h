// Where the async server runs RPC handlers: the one seam between the gRPC
// front end and the threading model under comparison.
#ifndef UMCG_RPC_SERVER_RPC_EXECUTOR_H_
#define UMCG_RPC_SERVER_RPC_EXECUTOR_H_

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"

namespace umcg_rpc {

// Runs handler closures. Implementations say which thread runs them.
class Executor {
 public:
  virtual ~Executor() = default;

  // Runs `handler` exactly once, now or later, on some thread; or refuses
  // it (the handler is then destroyed unrun) and says why.
  virtual absl::Status Execute(absl::AnyInvocable<void() &&> handler) = 0;

  // True if handlers run on the thread that calls Execute() (a
  // completion-queue thread), which then cannot drain its queue meanwhile.
  virtual bool RunsHandlersOnCaller() const { return false; }
};

// Runs each handler at once on the calling thread: the `epoll` mode, where
// a completion-queue thread is also the handler thread.
class InlineExecutor final : public Executor {
 public:
  absl::Status Execute(absl::AnyInvocable<void() &&> handler) override {
    std::move(handler)();
    return absl::OkStatus();
  }
  bool RunsHandlersOnCaller() const override { return true; }
};

}  // namespace umcg_rpc

#endif  // UMCG_RPC_SERVER_RPC_EXECUTOR_H_
