#include "server/run_server.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "runtime/futex_hash.h"
#include "runtime/scheduler.h"
#include "server/common/log.h"
#include "server/common/thread_cache.h"
#include "server/rpc/async_server.h"
#include "server/rpc/executor.h"
#include "server/rpc/runtime_executor.h"
#include "server/rpc/stats_service.h"
#include "server/rpc/thread_pool.h"
#include "server/rpc/workload_handlers.h"
#include "server/workload/data_file.h"
#include "server/workload/downstream.h"

namespace umcg_rpc {
namespace {

// How often a stop that has not finished logs the state (LogState()).
constexpr absl::Duration kStopReportInterval = absl::Seconds(10);

int UsableCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// Completion-queue threads when --cq-threads is 0. In epoll mode handlers
// run on them: one per CPU. In the other modes they only read requests,
// hand them on and write replies: half the CPUs, at least one, since each
// extra thread polling gRPC's shared poller costs hand-offs of the poller
// between them (docs/server.md, "How many completion-queue threads").
int DefaultCqThreads(ServerMode mode) {
  const int cpus = UsableCpus();
  return mode == ServerMode::kEpoll ? cpus : std::max(1, cpus / 2);
}

std::string TempDir() {
  // Read once at start-up, before any thread exists.
  const char* dir = std::getenv("TMPDIR");  // NOLINT(concurrency-mt-unsafe)
  return dir != nullptr && *dir != '\0' ? dir : "/tmp";
}

// Logs what the server and, in umcg mode, the runtime are doing: one line
// per line of Scheduler::DebugState(). On SIGUSR1, and while a stop takes
// long (a stuck server is then described in its own log).
void LogState(const AsyncServer& server, const runtime::Scheduler* scheduler,
              absl::string_view why) {
  const AsyncServerStats stats = server.stats();
  Log(LogLevel::kInfo, "state",
      {{"why", why},
       {"inflight", stats.inflight},
       {"succeeded", stats.succeeded},
       {"failed", stats.failed},
       {"rejected", stats.rejected}});
  if (scheduler == nullptr) return;
  for (absl::string_view line :
       absl::StrSplit(scheduler->DebugState(), '\n', absl::SkipEmpty())) {
    Log(LogLevel::kInfo, "runtime state", {{"line", line}});
  }
}

// Waits for SIGTERM, SIGINT or SIGUSR1 (blocked in every thread) up to
// `deadline`; returns the signal, or 0 when the deadline passed.
int WaitForSignal(const sigset_t& signals, absl::Time deadline) {
  for (;;) {
    int sig;
    if (deadline == absl::InfiniteFuture()) {
      if (sigwait(&signals, &sig) == 0) return sig;
      continue;
    }
    absl::Duration left =
        std::max(absl::ZeroDuration(), deadline - absl::Now());
    timespec timeout = absl::ToTimespec(left);
    sig = sigtimedwait(&signals, nullptr, &timeout);
    if (sig > 0) return sig;
    if (errno == EAGAIN) return 0;
  }
}

// The runtime configuration the umcg mode's flags ask for.
runtime::Options RuntimeOptions(const ServerOptions& options) {
  runtime::Options runtime_options;
  runtime_options.batch_runtime_threads = options.runtime_policy == "batch";
  runtime_options.servers = options.servers;
  runtime_options.max_workers = options.workers;
  runtime_options.min_workers = options.min_workers;
  runtime_options.time_slice = options.time_slice;
  // Flags were validated, so the backend name parses.
  runtime_options.backend = runtime::ParseBackendKind(options.backend)
                                .value_or(runtime::BackendKind::kAuto);
  runtime_options.logger = [](absl::string_view line) {
    Log(LogLevel::kInfo, "runtime", {{"detail", line}});
  };
  if (CanDisableThreadAllocatorCache()) {
    // A worker may hold a blocked RPC for long; its allocator cache would
    // stay pinned all that time (docs/server.md, "Memory").
    runtime_options.on_worker_start = [] {
      static std::atomic<bool> reported{false};
      absl::Status disabled = DisableThreadAllocatorCache();
      if (!disabled.ok() && !reported.exchange(true)) {
        Log(LogLevel::kWarning, "cannot turn off a worker's allocator cache",
            {{"error", disabled.ToString()}});
      }
    };
  }
  return runtime_options;
}

// Grows the process's futex hash for `threads` sleeping threads, as the
// runtime does for its workers, so that the thread pool baseline is not
// measured against a table sized for the CPUs (runtime/futex_hash.h).
void SizeFutexHash(int threads) {
  absl::StatusOr<int> buckets = runtime::EnsureFutexHashBuckets(threads);
  if (!buckets.ok()) {
    Log(LogLevel::kWarning, "futex hash not sized",
        {{"error", buckets.status().ToString()}});
  }
}

}  // namespace

absl::Status RunServer(const ServerOptions& options) {
  // Block the stop signals and SIGUSR1 (log the state) before any thread
  // exists, so every thread inherits the mask and only sigwait() below
  // sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<workload::DataFile>> data_file =
      options.data_file.empty()
          ? workload::DataFile::CreateTemporary(
                TempDir(), static_cast<uint64_t>(options.data_file_size))
          : workload::DataFile::Open(options.data_file);
  if (!data_file.ok()) return data_file.status();
  const std::string data_description = (*data_file)->description();

  // Downstream answers arrive on the server's own queues unless the
  // handlers run on those queues' threads (the epoll mode) or
  // --downstream-cq=own says not to (docs/server.md).
  const bool lend_queues =
      options.downstream_cq == "server" ||
      (options.downstream_cq == "auto" && options.mode != ServerMode::kEpoll);
  std::unique_ptr<workload::DownstreamClient> downstream;
  if (!options.downstream.empty()) {
    workload::DownstreamOptions downstream_options;
    downstream_options.own_queue = !lend_queues;
    downstream_options.poller_nice = options.cq_nice;
    absl::StatusOr<std::unique_ptr<workload::DownstreamClient>> client =
        workload::DownstreamClient::Create(options.downstream,
                                           downstream_options);
    if (!client.ok()) return client.status();
    downstream = *std::move(client);
  }
  WorkloadHandlers handlers(*std::move(data_file), std::move(downstream));

  const int cq_threads = options.cq_threads > 0
                             ? options.cq_threads
                             : DefaultCqThreads(options.mode);
  std::unique_ptr<runtime::Scheduler> scheduler;
  std::unique_ptr<Executor> executor;
  int handler_threads = 0;
  std::string backend = "none";
  switch (options.mode) {
    case ServerMode::kThreadPool:
      SizeFutexHash(options.threads + cq_threads);
      executor = std::make_unique<ThreadPool>(options.threads);
      handler_threads = options.threads;
      break;
    case ServerMode::kEpoll:
      executor = std::make_unique<InlineExecutor>();
      handler_threads = cq_threads;
      break;
    case ServerMode::kUmcg: {
      absl::StatusOr<std::unique_ptr<runtime::Scheduler>> created =
          runtime::Scheduler::Create(RuntimeOptions(options));
      if (!created.ok()) return created.status();
      scheduler = *std::move(created);
      executor = std::make_unique<RuntimeExecutor>(*scheduler);
      handler_threads = options.workers;
      backend = static_cast<std::string>(
          runtime::BackendKindName(scheduler->backend()));
      Log(LogLevel::kInfo, "runtime backend chosen",
          {{"backend", backend},
           {"asked", options.backend},
           {"reason", scheduler->backend_reason()},
           {"servers", scheduler->servers()},
           {"worker_allocator_cache",
            CanDisableThreadAllocatorCache() ? "off" : "on (not jemalloc)"}});
      break;
    }
  }

  StatsService stats_service(ServerModeName(options.mode), backend);
  AsyncServerOptions server_options;
  server_options.extra_services.push_back(&stats_service);
  server_options.listen = options.listen;
  server_options.completion_queues = cq_threads;
  server_options.batch_cq_threads =
      options.cq_policy == "batch" ||
      (options.cq_policy == "auto" && options.mode == ServerMode::kUmcg);
  server_options.cq_nice = options.cq_nice;
  server_options.max_inflight = options.max_inflight;
  server_options.lend_queues_to_handlers = lend_queues;
  server_options.health_service = options.health_service;
  absl::StatusOr<std::unique_ptr<AsyncServer>> server =
      AsyncServer::Start(server_options, handlers, *executor);
  if (!server.ok()) return server.status();
  stats_service.SetSources(server->get(), scheduler.get());

  Log(LogLevel::kInfo, "server started",
      {{"mode", ServerModeName(options.mode)},
       {"listen", options.listen},
       {"port", (*server)->port()},
       {"cq_threads", cq_threads},
       {"cq_policy", server_options.batch_cq_threads ? "batch" : "normal"},
       {"cq_nice", options.cq_nice},
       {"runtime_policy",
        options.mode == ServerMode::kUmcg ? options.runtime_policy : "none"},
       {"handler_threads", handler_threads},
       {"backend", backend},
       {"max_inflight", options.max_inflight},
       {"health_service", options.health_service ? "on" : "off"},
       {"data_file", data_description},
       {"downstream", options.downstream.empty() ? "none" : options.downstream},
       {"downstream_cq", options.downstream.empty() ? "none"
                         : lend_queues              ? "server"
                                                    : "own"},
       {"pid", static_cast<int64_t>(getpid())}});

  int sig = 0;
  while ((sig = WaitForSignal(signals, absl::InfiniteFuture())) == SIGUSR1) {
    LogState(**server, scheduler.get(), "SIGUSR1");
  }
  const absl::Time stop_start = absl::Now();
  (*server)->MarkNotServing();
  Log(LogLevel::kInfo, "stopping",
      {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"},
       {"inflight", (*server)->stats().inflight},
       {"grace", absl::FormatDuration(options.shutdown_grace)}});

  // Drain on another thread; this one keeps listening, because a second
  // signal during the drain cancels what is left at once.
  uint64_t cancelled = 0;
  absl::Notification drained;
  std::thread drainer([&] {
    cancelled = (*server)->Shutdown(options.shutdown_grace);
    drained.Notify();
  });
  bool impatient = false;
  absl::Time next_report = stop_start + kStopReportInterval;
  while (!drained.WaitForNotificationWithTimeout(absl::Milliseconds(20))) {
    const int more = WaitForSignal(signals, absl::Now());
    if (more == SIGUSR1) {
      LogState(**server, scheduler.get(), "SIGUSR1");
    } else if (absl::Now() >= next_report) {
      next_report += kStopReportInterval;
      LogState(**server, scheduler.get(), "still stopping");
    }
    if (!impatient && more != 0 && more != SIGUSR1) {
      impatient = true;
      Log(LogLevel::kWarning, "second stop signal: cancelling in-flight RPCs");
      (*server)->CancelAll(
          absl::UnavailableError("the server is stopping immediately"));
    }
  }
  drainer.join();
  const AsyncServerStats stats = (*server)->stats();
  server->reset();
  executor.reset();
  if (scheduler != nullptr) {
    // Every handler has returned (the gRPC server is down), so draining
    // only retires the workers.
    if (absl::Status s = scheduler->Shutdown(runtime::ShutdownMode::kDrain);
        !s.ok()) {
      Log(LogLevel::kError, "runtime shutdown failed",
          {{"error", s.message()}});
    }
    Log(LogLevel::kInfo, "runtime metrics",
        {{"metrics", scheduler->metrics().DebugString()}});
  }
  Log(LogLevel::kInfo, "server stopped",
      {{"succeeded", stats.succeeded},
       {"failed", stats.failed},
       {"rejected", stats.rejected},
       {"cancelled_at_shutdown", cancelled},
       {"drain_ms", absl::ToInt64Milliseconds(absl::Now() - stop_start)}});
  return absl::OkStatus();
}

}  // namespace umcg_rpc
