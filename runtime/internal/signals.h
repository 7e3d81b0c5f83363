// The signal the runtime uses to reach its own threads (preemption, and
// waking idle servers): installing its handler, unblocking it.
#ifndef UMCG_RPC_RUNTIME_INTERNAL_SIGNALS_H_
#define UMCG_RPC_RUNTIME_INTERNAL_SIGNALS_H_

#include "absl/status/status.h"

namespace umcg_rpc::runtime::internal {

// Installs `handler` for `signal`, process-wide, with SA_RESTART.
absl::Status InstallSignalHandler(int signal, void (*handler)(int));

// Unblocks `signal` on the calling thread (its creator may have blocked it).
void UnblockSignal(int signal);

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_SIGNALS_H_
