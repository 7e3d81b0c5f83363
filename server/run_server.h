// Runs the server binary: builds the chosen mode, serves until SIGTERM or
// SIGINT, drains, and reports.
#ifndef UMCG_RPC_SERVER_RUN_SERVER_H_
#define UMCG_RPC_SERVER_RUN_SERVER_H_

#include "absl/status/status.h"
#include "server/options.h"

namespace umcg_rpc {

// Serves with `options` until a stop signal, then shuts down gracefully.
// Returns OK after a clean shutdown. Must be called before any other thread
// starts: it blocks the stop signals process-wide to wait for them.
absl::Status RunServer(const ServerOptions& options);

}  // namespace umcg_rpc

#endif  // UMCG_RPC_SERVER_RUN_SERVER_H_
