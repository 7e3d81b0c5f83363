// The bounds a Workload request must stay within; see workload.proto.
#ifndef UMCG_RPC_SERVER_WORKLOAD_LIMITS_H_
#define UMCG_RPC_SERVER_WORKLOAD_LIMITS_H_

#include <cstdint>

namespace umcg_rpc::workload {

// Largest Echo payload accepted.
inline constexpr uint64_t kMaxEchoPayloadBytes = 1 << 20;
// Most steps in one Run request.
inline constexpr int kMaxSteps = 32;
// Longest single spin step, in microseconds of CPU time (1 s).
inline constexpr uint32_t kMaxSpinMicros = 1'000'000;
// Longest single sleep or downstream step, in microseconds (60 s).
inline constexpr uint32_t kMaxSleepMicros = 60'000'000;
// Most bytes one read step may read.
inline constexpr uint32_t kMaxReadBytes = 4 << 20;
// Longest sum of a request's spin, sleep and downstream times (60 s).
inline constexpr uint64_t kMaxTotalMicros = 60'000'000;

}  // namespace umcg_rpc::workload

#endif  // UMCG_RPC_SERVER_WORKLOAD_LIMITS_H_
