// The server binary's flags and config file, parsed into ServerOptions.
#ifndef UMCG_RPC_SERVER_OPTIONS_H_
#define UMCG_RPC_SERVER_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace umcg_rpc {

// How the server runs RPC handlers.
enum class ServerMode {
  kEpoll,       // Inline on gRPC's completion-queue threads.
  kThreadPool,  // On a fixed pool of --threads threads.
  kUmcg,        // On UMCG workers of the runtime (runtime/).
};

// Everything the command line and config file decide.
struct ServerOptions {
  ServerMode mode = ServerMode::kEpoll;
  std::string listen = "127.0.0.1:50051";
  // Completion-queue threads; 0 means one per CPU the process may use.
  int cq_threads = 0;
  // Scheduling policy of the completion-queue threads: "auto" (batch in
  // umcg mode, normal otherwise), "normal" or "batch" (SCHED_BATCH).
  std::string cq_policy = "auto";
  // Nice value (0..19) of the queue threads: the completion-queue threads
  // and the downstream client's; 0 keeps the inherited one.
  int cq_nice = 0;
  // umcg mode: scheduling policy of the runtime's monitor and fallback
  // server threads, "batch" (SCHED_BATCH) or "normal".
  std::string runtime_policy = "batch";
  // Serve gRPC health checking (grpc.health.v1.Health).
  bool health_service = true;
  // Handler threads of the threadpool mode.
  int threads = 256;
  int64_t max_inflight = 10000;
  // Empty: a temporary file of data_file_size bytes.
  std::string data_file;
  int64_t data_file_size = 16 << 20;
  // Empty: downstream steps fail FAILED_PRECONDITION.
  std::string downstream;
  // Which completion queue downstream answers arrive on: "server" (the
  // queue the call came in on), "own" (the downstream client's, with its
  // own thread) or "auto" (server, except in epoll mode: own).
  std::string downstream_cq = "auto";
  absl::Duration shutdown_grace = absl::Seconds(10);
  // umcg mode: the runtime's backend, "auto", "kernel" or "fallback".
  std::string backend = "auto";
  // umcg mode: cap on worker threads; each blocked RPC holds one.
  int workers = 10000;
  // umcg mode: workers created at start-up and never retired (<= workers).
  int min_workers = 0;
  // umcg mode: server threads (CPU slots); 0 means one per CPU.
  int servers = 0;
  // umcg mode: a handler running longer is preempted; zero disables.
  absl::Duration time_slice = absl::Milliseconds(20);
};

// The name of `mode` as the --mode flag spells it.
const char* ServerModeName(ServerMode mode);

// Parses argv (and the --config file it names; the command line wins).
// Returns the options, or nullopt after printing --help to stdout, or an
// INVALID_ARGUMENT status whose message says what is wrong.
absl::StatusOr<std::optional<ServerOptions>> ParseServerOptions(
    int argc, const char* const* argv);

}  // namespace umcg_rpc

#endif  // UMCG_RPC_SERVER_OPTIONS_H_
