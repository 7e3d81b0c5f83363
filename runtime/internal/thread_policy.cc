#include "runtime/internal/thread_policy.h"

#include <sched.h>

#include <cerrno>

namespace umcg_rpc::runtime::internal {

absl::Status UseBatchPolicy() {
  sched_param param{};
  param.sched_priority = 0;  // The only priority SCHED_BATCH allows.
  // pid 0: the calling thread (the policy is per thread on Linux).
  if (sched_setscheduler(0, SCHED_BATCH, &param) != 0) {
    return absl::ErrnoToStatus(errno, "sched_setscheduler(SCHED_BATCH)");
  }
  return absl::OkStatus();
}

}  // namespace umcg_rpc::runtime::internal
