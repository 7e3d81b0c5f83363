#include "runtime/internal/signals.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace umcg_rpc::runtime::internal {

absl::Status InstallSignalHandler(int signal, void (*handler)(int)) {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(signal, &sa, nullptr) != 0) {
    return absl::InternalError(absl::StrCat(
        "sigaction(", signal, "): ", std::generic_category().message(errno)));
  }
  return absl::OkStatus();
}

void UnblockSignal(int signal) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signal);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

}  // namespace umcg_rpc::runtime::internal
