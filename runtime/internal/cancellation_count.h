// A process-wide count of cancelled tokens, for the scheduler's queue sweep.
#ifndef UMCG_RPC_RUNTIME_INTERNAL_CANCELLATION_COUNT_H_
#define UMCG_RPC_RUNTIME_INTERNAL_CANCELLATION_COUNT_H_

#include <cstdint>

namespace umcg_rpc::runtime::internal {

// How many CancellationTokens have been cancelled so far, process-wide
// (counted by CancellationToken::Cancel()): a Scheduler looks for cancelled
// tasks in its queue only when this has moved. A token counted in the
// value returned reads as cancelled to the caller.
uint64_t CancellationsSoFar();

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_CANCELLATION_COUNT_H_
