#include "runtime/thread_policy.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace umcg_rpc::runtime {

namespace {

absl::Status SetPolicy(pthread_t thread, int policy, const char* name) {
  sched_param param{};
  param.sched_priority = 0;  // The only priority either policy allows.
  const int rc = pthread_setschedparam(thread, policy, &param);
  if (rc != 0) return absl::ErrnoToStatus(rc, absl::StrCat("setting ", name));
  return absl::OkStatus();
}

}  // namespace

absl::Status UseBatchPolicy(pthread_t thread) {
  return SetPolicy(thread, SCHED_BATCH, "SCHED_BATCH");
}

absl::Status UseNormalPolicy(pthread_t thread) {
  return SetPolicy(thread, SCHED_OTHER, "SCHED_OTHER");
}

absl::Status SetOwnNice(int nice) {
  if (nice < -20 || nice > 19) {
    return absl::InvalidArgumentError(
        absl::StrCat("nice value ", nice, " is outside -20..19"));
  }
  // PRIO_PROCESS with a thread id: Linux applies it to that thread alone.
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), nice) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("setting nice ", nice));
  }
  return absl::OkStatus();
}

}  // namespace umcg_rpc::runtime
