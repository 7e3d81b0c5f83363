// umcg-rpc-burst: fires N Run calls at once at a Workload server and reports
// how long the burst took and how the calls' latencies spread. A quick
// look at how a mode copes with concurrent blocking calls; the open-loop
// load generator is the tool for latency-versus-load measurements.
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "server/common/tool_main.h"
#include "umcgrpc/v1/workload.grpc.pb.h"

namespace {

using umcgrpc::v1::RunRequest;
using umcgrpc::v1::RunResponse;
using umcgrpc::v1::Workload;

// One call in flight; its address is the completion-queue tag.
struct Call {
  grpc::ClientContext context;
  RunResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<RunResponse>> reader;
  absl::Time sent;
  absl::Duration latency;
};

absl::Duration Percentile(std::vector<absl::Duration> sorted, double p) {
  if (sorted.empty()) return absl::ZeroDuration();
  size_t i = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1));
  return sorted[i];
}

// What to fire, from the flags.
struct BurstOptions {
  std::string target = "127.0.0.1:50051";
  int calls = 64;
  int connections = 1;
  uint32_t sleep_us = 50'000;
  uint32_t spin_us = 0;
  int timeout_s = 60;
};

// Fires the burst, prints its line, and returns the exit status.
int RunBurst(const BurstOptions& options) {
  std::vector<std::unique_ptr<Workload::Stub>> stubs;
  for (int i = 0; i < options.connections; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // A connection each.
    auto channel = grpc::CreateCustomChannel(
        options.target, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(
            absl::ToChronoTime(absl::Now() + absl::Seconds(10)))) {
      std::fprintf(stderr, "umcg-rpc-burst: cannot connect to %s\n",
                   options.target.c_str());
      return 1;
    }
    stubs.push_back(Workload::NewStub(channel));
  }

  RunRequest request;
  if (options.spin_us > 0) {
    request.add_steps()->mutable_spin()->set_micros(options.spin_us);
  }
  if (options.sleep_us > 0) {
    request.add_steps()->mutable_sleep()->set_micros(options.sleep_us);
  }

  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<Call>> inflight;
  const absl::Time start = absl::Now();
  for (int i = 0; i < options.calls; ++i) {
    auto call = std::make_unique<Call>();
    call->context.set_deadline(
        absl::ToChronoTime(start + absl::Seconds(options.timeout_s)));
    call->sent = absl::Now();
    call->reader =
        stubs[i % options.connections]->AsyncRun(&call->context, request, &cq);
    call->reader->Finish(&call->response, &call->status, call.get());
    inflight.push_back(std::move(call));
  }
  const absl::Duration issue = absl::Now() - start;
  std::vector<absl::Duration> latencies;
  std::map<std::string, int> codes;
  for (int done = 0; done < options.calls; ++done) {
    void* tag;
    bool ok;
    if (!cq.Next(&tag, &ok)) break;
    Call* call = static_cast<Call*>(tag);
    call->latency = absl::Now() - call->sent;
    latencies.push_back(call->latency);
    ++codes[call->status.ok()
                ? "OK"
                : "code " + std::to_string(call->status.error_code())];
  }
  const absl::Duration wall = absl::Now() - start;
  std::sort(latencies.begin(), latencies.end());
  std::printf(
      "calls=%d connections=%d spin_us=%u sleep_us=%u issue_ms=%.1f "
      "wall_ms=%.1f "
      "min_ms=%.1f p50_ms=%.1f p90_ms=%.1f max_ms=%.1f",
      options.calls, options.connections, options.spin_us, options.sleep_us,
      absl::ToDoubleMilliseconds(issue), absl::ToDoubleMilliseconds(wall),
      absl::ToDoubleMilliseconds(latencies.front()),
      absl::ToDoubleMilliseconds(Percentile(latencies, 0.5)),
      absl::ToDoubleMilliseconds(Percentile(latencies, 0.9)),
      absl::ToDoubleMilliseconds(latencies.back()));
  for (const auto& [code, count] : codes) {
    std::printf(" status[%s]=%d", code.c_str(), count);
  }
  std::printf("\n");
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
  return codes.size() == 1 && codes.count("OK") == 1 ? 0 : 3;
}

// Parses the flags and fires the burst; returns the exit status.
int Main(int argc, char** argv) {
  BurstOptions options;
  CLI::App app(
      "Fires --calls Run RPCs at once (each: spin --spin-us of CPU, then "
      "sleep --sleep-us) over --connections connections; prints the burst's "
      "wall time, latency percentiles and status counts.",
      "umcg-rpc-burst");
  app.footer(
      "Exit status: 0 when every call ended OK, 3 when some did not, 1 when "
      "the target cannot be reached, 2 for bad flags.");
  app.option_defaults()->always_capture_default();
  app.add_option("--target", options.target, "Server address")
      ->type_name("HOST:PORT");
  app.add_option("--calls", options.calls, "Calls in the burst")
      ->check(CLI::Range(1, 100000));
  app.add_option("--connections", options.connections,
                 "Connections the calls are spread over")
      ->check(CLI::Range(1, 1024));
  app.add_option("--sleep-us", options.sleep_us,
                 "Sleep step per call, microseconds");
  app.add_option("--spin-us", options.spin_us,
                 "Spin step per call, microseconds");
  app.add_option("--timeout-s", options.timeout_s, "Deadline per call, seconds")
      ->check(CLI::Range(1, 3600));
  if (std::optional<int> exit = umcg_rpc::ParseFlags(app, argc, argv)) {
    return *exit;
  }
  return RunBurst(options);
}

}  // namespace

int main(int argc, char** argv) {
  return umcg_rpc::RunTool("umcg-rpc-burst", &Main, argc, argv);
}
