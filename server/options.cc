#include "server/options.h"

#include <iostream>
#include <map>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"

namespace umcg_rpc {
namespace {

constexpr char kDescription[] =
    "umcg-rpc-server: the Workload gRPC service (umcgrpc.v1.Workload), with "
    "gRPC health checking (unless --health-service=false) and server "
    "reflection.";

constexpr char kFooter[] =
    "Modes:\n"
    "  epoll       gRPC's async completion-queue server, one queue thread\n"
    "              per CPU, handlers run inline on those threads (a\n"
    "              blocking handler stalls its queue): the latency baseline.\n"
    "  threadpool  the same front end, handlers handed to a fixed pool of\n"
    "              --threads threads: the oversubscription baseline.\n"
    "  umcg        the same front end, handlers run on UMCG workers of the\n"
    "              runtime: one server thread per CPU runs one worker at a\n"
    "              time, and a worker that blocks gives its CPU to the next.\n"
    "              --backend=kernel needs the UMCG kernel; fallback works\n"
    "              anywhere (blocking it cannot see is caught late, by a\n"
    "              monitor); auto picks one and logs why.\n"
    "\n"
    "Calls past --max-inflight get RESOURCE_EXHAUSTED. SIGTERM or SIGINT\n"
    "stops the server gracefully: in-flight calls get --shutdown-grace to\n"
    "finish, then are cancelled; a second signal cancels them at once.\n"
    "SIGUSR1 logs the server's state (calls in flight and, in umcg mode,\n"
    "the runtime's queues, servers and busy workers), as does a stop\n"
    "still unfinished every 10 s.\n"
    "\n"
    "A --config file holds `name = value` lines using the long flag names\n"
    "(e.g. `max-inflight = 500`); flags on the command line override it.\n"
    "\n"
    "Exit status: 0 after a clean shutdown, 2 for bad flags or config, 1\n"
    "when the server cannot start or fails.";

// Validates a DURATION flag with absl's syntax (300ms, 10s, 1m).
std::string CheckDuration(const std::string& text) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration()) {
    return absl::StrCat("'", text,
                        "' is not a duration such as 500ms, 10s or 2m");
  }
  if (d > absl::Hours(1)) return "must be at most 1h";
  return "";
}

}  // namespace

const char* ServerModeName(ServerMode mode) {
  switch (mode) {
    case ServerMode::kEpoll:
      return "epoll";
    case ServerMode::kThreadPool:
      return "threadpool";
    case ServerMode::kUmcg:
      return "umcg";
  }
  return "unknown";
}

absl::StatusOr<std::optional<ServerOptions>> ParseServerOptions(
    int argc, const char* const* argv) {
  ServerOptions options;
  const std::map<std::string, ServerMode> modes = {
      {"epoll", ServerMode::kEpoll},
      {"threadpool", ServerMode::kThreadPool},
      {"umcg", ServerMode::kUmcg}};
  std::string mode = ServerModeName(options.mode);
  std::string grace = absl::FormatDuration(options.shutdown_grace);
  std::string time_slice = absl::FormatDuration(options.time_slice);

  CLI::App app(kDescription, "umcg-rpc-server");
  app.footer(kFooter);
  app.get_formatter()->column_width(36);
  app.option_defaults()->always_capture_default();
  app.set_config("--config", "", "Read flags from FILE (`name = value` lines)")
      ->type_name("FILE");
  app.allow_config_extras(false);
  app.add_option("--mode", mode, "How handlers run: epoll|threadpool|umcg")
      ->type_name("MODE")
      ->check(CLI::IsMember({"epoll", "threadpool", "umcg"}));
  app.add_option("--listen", options.listen,
                 "Address to serve on; port 0 picks a free port")
      ->type_name("HOST:PORT");
  app.add_option("--cq-threads", options.cq_threads,
                 "Completion-queue threads; 0 = one per CPU in epoll mode, "
                 "half the CPUs (at least one) in the other modes")
      ->check(CLI::Range(0, 1024));
  app.add_option("--cq-policy", options.cq_policy,
                 "Completion-queue threads' scheduling: auto|normal|batch "
                 "(auto: batch in umcg mode, so that their wake-ups do not "
                 "preempt a running handler; normal otherwise)")
      ->type_name("POLICY")
      ->check(CLI::IsMember({"auto", "normal", "batch"}));
  app.add_option("--cq-nice", options.cq_nice,
                 "Nice value of the queue threads (completion queues, which "
                 "in epoll mode run the handlers too, and the downstream "
                 "client's), 0..19; 0 keeps the inherited one. Higher "
                 "batches their events but caps their share of a busy CPU. "
                 "With the server on a CPU of its own, 10 raised W2's "
                 "throughput, closed and open loop; on CPUs shared with "
                 "other processes it did not (docs/server.md)")
      ->type_name("NICE")
      ->check(CLI::Range(0, 19));
  app.add_option("--health-service", options.health_service,
                 "Serve grpc.health.v1.Health (true|false); its gRPC "
                 "callback-queue threads also poll the connections, which "
                 "costs the epoll mode throughput (docs/server.md)");
  app.add_option("--threads", options.threads,
                 "Handler threads in --mode=threadpool")
      ->check(CLI::Range(1, 65536));
  app.add_option("--max-inflight", options.max_inflight,
                 "RPCs worked on at once; more get RESOURCE_EXHAUSTED")
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000}));
  app.add_option("--data-file", options.data_file,
                 "File that Run's read steps pread() from; default: a "
                 "temporary file of --data-file-size bytes")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
  app.add_option("--data-file-size", options.data_file_size,
                 "Size of the temporary data file, in bytes")
      ->check(CLI::Range(int64_t{4096}, int64_t{1} << 32));
  app.add_option("--downstream", options.downstream,
                 "host:port of the Workload server that downstream steps "
                 "call; default: none (those steps fail)")
      ->type_name("HOST:PORT");
  app.add_option("--downstream-cq", options.downstream_cq,
                 "Completion queue the downstream calls' answers arrive on: "
                 "auto|server|own. server: the queue the call came in on, "
                 "read by its thread; own: the downstream client's, read by "
                 "a thread of its own (one more thread to wake per call); "
                 "auto: server, except in epoll mode, where handlers run on "
                 "the queue threads and must use own (docs/server.md)")
      ->type_name("QUEUE")
      ->check(CLI::IsMember({"auto", "server", "own"}));
  app.add_option("--shutdown-grace", grace,
                 "How long in-flight RPCs may run after SIGTERM")
      ->type_name("DURATION")
      ->check(CheckDuration);

  app.add_option("--backend", options.backend,
                 "umcg mode: runtime backend auto|kernel|fallback")
      ->type_name("BACKEND")
      ->check(CLI::IsMember({"auto", "kernel", "fallback"}));
  app.add_option("--workers", options.workers,
                 "umcg mode: most worker threads (a blocked RPC holds one)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--min-workers", options.min_workers,
                 "umcg mode: workers created at start-up and kept (a burst "
                 "of blocking RPCs then needs no new threads)")
      ->check(CLI::Range(0, 100000));
  app.add_option("--servers", options.servers,
                 "umcg mode: server threads (CPU slots); 0 = one per CPU")
      ->check(CLI::Range(0, 1024));
  app.add_option("--time-slice", time_slice,
                 "umcg mode: preempt a handler running longer; 0 = never")
      ->type_name("DURATION")
      ->check(CheckDuration);
  app.add_option("--runtime-policy", options.runtime_policy,
                 "umcg mode: scheduling of the runtime's monitor thread and "
                 "(fallback backend) server threads: batch|normal (batch: "
                 "their wake-ups do not preempt a running handler)")
      ->type_name("POLICY")
      ->check(CLI::IsMember({"normal", "batch"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return std::nullopt;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }
  options.mode = modes.at(mode);
  if (!absl::ParseDuration(grace, &options.shutdown_grace)) {
    return absl::InvalidArgumentError("--shutdown-grace: not a duration");
  }
  if (!absl::ParseDuration(time_slice, &options.time_slice)) {
    return absl::InvalidArgumentError("--time-slice: not a duration");
  }
  if (options.mode != ServerMode::kUmcg) {
    for (const char* flag : {"--backend", "--workers", "--min-workers",
                             "--servers", "--time-slice", "--runtime-policy"}) {
      if (app.count(flag) > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(flag, " applies only to --mode=umcg, not --mode=",
                         ServerModeName(options.mode)));
      }
    }
  }
  if (options.mode == ServerMode::kEpoll && options.downstream_cq == "server") {
    return absl::InvalidArgumentError(
        "--downstream-cq=server cannot work with --mode=epoll: its handlers "
        "run on the completion-queue threads, and one would wait for an "
        "answer only its own thread could take off the queue");
  }
  if (options.min_workers > options.workers) {
    return absl::InvalidArgumentError(
        absl::StrCat("--min-workers=", options.min_workers,
                     " exceeds --workers=", options.workers));
  }
  if (options.mode != ServerMode::kThreadPool && app.count("--threads") > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--threads applies only to --mode=threadpool, not --mode=",
                     ServerModeName(options.mode)));
  }
  return options;
}

}  // namespace umcg_rpc
