// Drives one unary gRPC method at a target for a fixed time, open-loop (a
// request schedule fixed in advance, latency measured from each request's
// intended send time, so a slow server cannot slow the load down and hide
// its queueing: no coordinated omission) or closed-loop (N callers, each
// sending when its last call returns, like ghz without --async).
#ifndef UMCG_RPC_BENCH_LOADGEN_LOAD_RUNNER_H_
#define UMCG_RPC_BENCH_LOADGEN_LOAD_RUNNER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bench/loadgen/arrivals.h"
#include "bench/loadgen/histogram.h"

namespace umcg_rpc::loadgen {

// What to send, where, and how hard.
struct LoadOptions {
  std::string target = "127.0.0.1:50051";
  // Full method path, e.g. "/umcgrpc.v1.Workload/Run".
  std::string method;
  // Serialized request messages; call n sends requests[n % size], as ghz
  // does with an array of messages. At least one.
  std::vector<std::string> requests;
  int connections = 1;
  // Requests per second; 0 selects the closed loop.
  double rate = 0;
  ArrivalProcess arrival = ArrivalProcess::kConstant;
  // Closed loop: concurrent callers. Open loop: the most calls outstanding
  // at once; past it sends wait (and their latency keeps counting).
  int concurrency = 50;
  // Measured time, after the warm-up.
  absl::Duration duration = absl::Seconds(10);
  // Sent but not measured, before `duration` starts.
  absl::Duration warmup = absl::ZeroDuration();
  // Deadline of every call.
  absl::Duration timeout = absl::Seconds(20);
  uint64_t seed = 1;
  // Print a progress line to stderr every second.
  bool progress = true;
};

// What one run measured (calls intended to start after the warm-up).
struct LoadResult {
  // Every measured call's latency, whatever its status.
  LatencyHistogram all;
  // Latencies of the calls that succeeded.
  LatencyHistogram ok;
  // Status name (gRPC's canonical names: "OK", "ResourceExhausted", ...)
  // to count.
  std::map<std::string, uint64_t> status_codes;
  // "Code: message" of failed calls to count.
  std::map<std::string, uint64_t> errors;
  // Open loop: measured calls that left more than 1 ms after their
  // intended time, because the client could not keep up or hit
  // --concurrency. Their latency still counts from the intended time.
  uint64_t late_sends = 0;
  // Open loop: how far behind its schedule the client sent the last
  // measured call (zero if on time). A client that falls behind sends the
  // measured calls over a longer time than `duration`.
  absl::Duration final_send_lag;
  // Length of the measured window: `duration`, or, in an open loop that
  // fell behind, from the warm-up's end to the last measured call's send
  // (so that rates divided by it are the rates achieved, not offered).
  absl::Duration window;
  // Every call that completed, the warm-up's too: what the processes' CPU
  // time over the whole run is divided by for a per-call cost.
  uint64_t calls_including_warmup = 0;
  // "normal", or why the run ended early.
  std::string end_reason = "normal";
};

// Connects, runs the load, waits for every call it sent, and reports.
absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options);

// gRPC's canonical name of a status code, as ghz reports it.
const char* StatusCodeName(int code);

}  // namespace umcg_rpc::loadgen

#endif  // UMCG_RPC_BENCH_LOADGEN_LOAD_RUNNER_H_
