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
  bool done = false;
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
  bool by_send_order = false;
};

// Prints, for each tenth of the calls in the order they were sent, when
// that tenth was sent, its mean latency and when its last call finished
// (times from the burst's start): whether calls waited to start (later
// tenths slower) or to finish (every tenth late alike).
void PrintBySendOrder(const std::vector<std::unique_ptr<Call>>& calls,
                      absl::Time start) {
  const size_t n = calls.size();
  for (size_t tenth = 0; tenth < 10; ++tenth) {
    const size_t begin = tenth * n / 10;
    const size_t end = (tenth + 1) * n / 10;
    if (begin == end) continue;
    absl::Duration sum;
    absl::Duration last_done;
    int finished = 0;
    for (size_t i = begin; i < end; ++i) {
      const Call& call = *calls[i];
      if (!call.done) continue;
      ++finished;
      sum += call.latency;
      last_done = std::max(last_done, call.sent - start + call.latency);
    }
    std::printf(
        "tenth=%zu sent_ms=%.1f-%.1f finished=%d mean_ms=%.1f "
        "last_done_ms=%.1f\n",
        tenth + 1, absl::ToDoubleMilliseconds(calls[begin]->sent - start),
        absl::ToDoubleMilliseconds(calls[end - 1]->sent - start), finished,
        finished > 0 ? absl::ToDoubleMilliseconds(sum / finished) : 0.0,
        absl::ToDoubleMilliseconds(last_done));
  }
}

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
    call->done = true;
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
  if (options.by_send_order) PrintBySendOrder(inflight, start);
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
  app.add_flag("--by-send-order", options.by_send_order,
               "Also print a line per tenth of the calls in send order: when "
               "sent, mean latency, when the last one finished");
  if (std::optional<int> exit = umcg_rpc::ParseFlags(app, argc, argv)) {
    return *exit;
  }
  return RunBurst(options);
}

}  // namespace

int main(int argc, char** argv) {
  return umcg_rpc::RunTool("umcg-rpc-burst", &Main, argc, argv);
}
