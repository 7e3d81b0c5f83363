// umcg-rpc-loadgen: an open-loop gRPC load generator; see --help.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "bench/loadgen/load_runner.h"
#include "bench/loadgen/report.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "server/common/tool_main.h"
#include "umcgrpc/v1/workload.pb.h"

namespace {

using umcg_rpc::loadgen::ArrivalProcess;
using umcg_rpc::loadgen::LoadOptions;

constexpr char kFooter[] =
    "Open loop (--rate > 0): requests leave on a schedule fixed in advance\n"
    "(Poisson or constant gaps) and each latency is measured from the\n"
    "request's intended send time, so a server that falls behind shows its\n"
    "queueing in the latencies instead of slowing the load (no coordinated\n"
    "omission). Closed loop (--rate 0): --concurrency callers, each sending\n"
    "when its last call returns, like ghz without --async.\n"
    "\n"
    "The JSON report (to --output, default stdout) has ghz's fields (count,\n"
    "total, average, fastest, slowest, rps, statusCodeDistribution,\n"
    "errorDistribution, latencyDistribution, histogram; durations in ns)\n"
    "plus p99.9 and p99.99 in latencyDistribution, okLatencyDistribution,\n"
    "okRps, lateSends (open loop: measured calls sent over 1 ms late),\n"
    "finalSendLag (open loop: how late the last one left) and\n"
    "callsIncludingWarmup (every call that completed, warm-up and failed\n"
    "ones too). total is the measured window: --duration, or longer if an\n"
    "open loop fell behind its schedule, so that rps and okRps are the\n"
    "rates achieved, not offered.\n"
    "Progress goes to stderr once a second.\n"
    "\n"
    "Exit status: 0 when the run completed (whatever the calls' statuses),\n"
    "2 for bad flags, 1 when the target cannot be reached.";

// "pkg.Service/Method" or "pkg.Service.Method" -> the method descriptor.
const google::protobuf::MethodDescriptor* FindMethod(const std::string& call) {
  std::string dotted = absl::StrReplaceAll(call, {{"/", "."}});
  return google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
      dotted);
}

bool ParseDurationFlag(const std::string& text, absl::Duration* out) {
  return absl::ParseDuration(text, out) && *out >= absl::ZeroDuration();
}

// Parses the flags, runs the load and writes the report; returns the exit
// status.
int Main(int argc, char** argv) {
  // Link the service descriptors into the generated pool.
  umcgrpc::v1::RunRequest::descriptor();

  LoadOptions options;
  std::string call;
  std::string data = "{}";
  std::string arrival = "poisson";
  std::string duration = "10s";
  std::string warmup = "1s";
  std::string timeout = "20s";
  std::string output = "-";
  std::string name;
  bool quiet = false;

  CLI::App app(
      "umcg-rpc-loadgen: drives one unary RPC of the umcg-rpc protos at a "
      "server, open-loop at a fixed rate or closed-loop, and writes a "
      "ghz-compatible JSON report.",
      "umcg-rpc-loadgen");
  app.footer(kFooter);
  app.get_formatter()->column_width(34);
  app.option_defaults()->always_capture_default();
  app.add_option("--target", options.target, "Server address")
      ->type_name("HOST:PORT");
  app.add_option("--call", call,
                 "Method, e.g. umcgrpc.v1.Workload/Run (or .../Echo)")
      ->required();
  app.add_option("-d,--data", data,
                 "Request message as JSON, or a JSON array of messages sent "
                 "round-robin");
  app.add_option("--rate", options.rate,
                 "Requests per second; 0 runs the closed loop")
      ->check(CLI::Range(0.0, 1e7));
  app.add_option("--arrival", arrival, "Open-loop gaps: poisson or constant")
      ->check(CLI::IsMember({"poisson", "constant"}));
  app.add_option("-c,--concurrency", options.concurrency,
                 "Closed loop: callers. Open loop: most calls outstanding")
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--connections", options.connections,
                 "Connections the calls are spread over")
      ->check(CLI::Range(1, 4096));
  app.add_option("-z,--duration", duration, "Measured time")
      ->type_name("DURATION");
  app.add_option("--warmup", warmup, "Unmeasured load before --duration")
      ->type_name("DURATION");
  app.add_option("-t,--timeout", timeout, "Deadline of each call")
      ->type_name("DURATION");
  app.add_option("--seed", options.seed, "Seed of the Poisson schedule");
  app.add_option("-o,--output", output, "Report file; - is stdout")
      ->type_name("FILE");
  app.add_option("--name", name, "Name recorded in the report");
  app.add_flag("-q,--quiet", quiet, "No progress lines");
  if (std::optional<int> exit = umcg_rpc::ParseFlags(app, argc, argv)) {
    return *exit;
  }

  auto fail = [](const std::string& message) {
    std::cerr << "umcg-rpc-loadgen: " << message
              << "\nRun with --help for usage.\n";
    return 2;
  };
  if (!ParseDurationFlag(duration, &options.duration) ||
      options.duration <= absl::ZeroDuration()) {
    return fail("--duration: '" + duration + "' is not a positive duration");
  }
  if (!ParseDurationFlag(warmup, &options.warmup)) {
    return fail("--warmup: '" + warmup + "' is not a duration");
  }
  if (!ParseDurationFlag(timeout, &options.timeout) ||
      options.timeout <= absl::ZeroDuration()) {
    return fail("--timeout: '" + timeout + "' is not a positive duration");
  }
  options.arrival = arrival == "constant" ? ArrivalProcess::kConstant
                                          : ArrivalProcess::kPoisson;
  options.progress = !quiet;

  const google::protobuf::MethodDescriptor* method = FindMethod(call);
  if (method == nullptr || method->client_streaming() ||
      method->server_streaming()) {
    return fail("--call: '" + call +
                "' is not a unary method of the umcg-rpc protos (try "
                "umcgrpc.v1.Workload/Run)");
  }
  // One message, or an array of them sent round-robin (as ghz does).
  nlohmann::json parsed = nlohmann::json::parse(data, nullptr, false);
  if (parsed.is_discarded()) return fail("--data: not valid JSON");
  if (!parsed.is_array()) parsed = nlohmann::json::array({parsed});
  if (parsed.empty()) return fail("--data: the array of messages is empty");
  google::protobuf::DynamicMessageFactory factory;
  for (size_t i = 0; i < parsed.size(); ++i) {
    std::unique_ptr<google::protobuf::Message> request(
        factory.GetPrototype(method->input_type())->New());
    if (auto s = google::protobuf::util::JsonStringToMessage(parsed[i].dump(),
                                                             request.get());
        !s.ok()) {
      return fail(absl::StrCat("--data[", i, "]: not a valid ",
                               method->input_type()->full_name(), ": ",
                               s.message().as_string()));
    }
    options.requests.push_back(request->SerializeAsString());
  }
  options.method =
      absl::StrCat("/", method->service()->full_name(), "/", method->name());

  const absl::Time date = absl::Now();
  absl::StatusOr<umcg_rpc::loadgen::LoadResult> result =
      umcg_rpc::loadgen::RunLoad(options);
  if (!result.ok()) {
    std::cerr << "umcg-rpc-loadgen: " << result.status().message() << "\n";
    return 1;
  }
  nlohmann::json report = umcg_rpc::loadgen::MakeReport(
      name.empty() ? call : name, options, call, *result, date);
  if (output == "-") {
    std::cout << report.dump(2) << "\n";
  } else {
    std::ofstream out(output);
    out << report.dump(2) << "\n";
    if (!out) {
      std::cerr << "umcg-rpc-loadgen: cannot write " << output << "\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return umcg_rpc::RunTool("umcg-rpc-loadgen", &Main, argc, argv);
}
