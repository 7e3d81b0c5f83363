#include "runtime/thread_policy.h"

#include <sched.h>

namespace umcg_rpc::runtime {

absl::Status UseBatchPolicy(pthread_t thread) {
  sched_param param{};
  param.sched_priority = 0;  // The only priority SCHED_BATCH allows.
  const int rc = pthread_setschedparam(thread, SCHED_BATCH, &param);
  if (rc != 0) return absl::ErrnoToStatus(rc, "setting SCHED_BATCH");
  return absl::OkStatus();
}

}  // namespace umcg_rpc::runtime
