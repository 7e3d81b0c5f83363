#include "runtime/thread_policy.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <future>
#include <utility>

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

std::thread StartNicedThread(const char* name, int nice,
                             absl::AnyInvocable<void() &&> body,
                             absl::Status* niced) {
  std::promise<absl::Status> result;
  std::future<absl::Status> done = result.get_future();
  std::thread thread([name, nice, result = std::move(result),
                      body = std::move(body)]() mutable {
    // Named by the thread itself before the promise is kept, so that the
    // name is set by the time the starter goes on (tests and operators
    // look threads up by name).
    pthread_setname_np(pthread_self(), name);
    absl::Status status = nice == 0 ? absl::OkStatus() : SetOwnNice(nice);
    if (!status.ok()) {
      status = absl::Status(status.code(),
                            absl::StrCat(name, " thread: ", status.message()));
    }
    result.set_value(std::move(status));
    std::move(body)();
  });
  *niced = done.get();
  return thread;
}

}  // namespace umcg_rpc::runtime
