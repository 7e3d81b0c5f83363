#include "bench/loadgen/load_runner.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"

namespace umcg_rpc::loadgen {

const char* StatusCodeName(int code) {
  static constexpr const char* kNames[] = {"OK",
                                           "Canceled",
                                           "Unknown",
                                           "InvalidArgument",
                                           "DeadlineExceeded",
                                           "NotFound",
                                           "AlreadyExists",
                                           "PermissionDenied",
                                           "ResourceExhausted",
                                           "FailedPrecondition",
                                           "Aborted",
                                           "OutOfRange",
                                           "Unimplemented",
                                           "Internal",
                                           "Unavailable",
                                           "DataLoss",
                                           "Unauthenticated"};
  if (code < 0 || code >= static_cast<int>(std::size(kNames))) return "Unknown";
  return kNames[code];
}

namespace {

// Completion-queue threads; two keep up with tens of thousands of calls/s.
constexpr int kCompletionThreads = 2;
// Sends later than this after their intended time count as late.
constexpr absl::Duration kLateThreshold = absl::Milliseconds(1);

// One call in flight; its address is its completion-queue tag.
struct Call {
  grpc::ClientContext context;
  grpc::ByteBuffer response;
  grpc::Status status;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader;
  // When the call should have left (open loop) or did leave (closed loop).
  absl::Time intended;
  // Closed loop: the caller slot that sends again when this one returns.
  int slot = -1;
};

// Per-completion-thread tallies, merged at the end.
struct Tally {
  LatencyHistogram all;
  LatencyHistogram ok;
  std::map<std::string, uint64_t> status_codes;
  std::map<std::string, uint64_t> errors;
};

class Runner {
 public:
  explicit Runner(const LoadOptions& options) : options_(options) {}

  absl::StatusOr<LoadResult> Run();

 private:
  void Send(int slot, absl::Time intended);
  void CompletionLoop(int index);
  void OpenLoop();
  void ProgressLoop();
  bool Finished() const;

  const LoadOptions& options_;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;
  std::vector<std::unique_ptr<grpc::CompletionQueue>> cqs_;
  std::vector<grpc::ByteBuffer> requests_;
  absl::Time start_;
  absl::Time measure_start_;
  absl::Time end_;

  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> done_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<uint64_t> late_{0};
  std::atomic<bool> sending_done_{false};
  // Open loop, written by the sending thread (the one that runs Run()):
  // when the last measured call was sent, and how late.
  absl::Time last_measured_send_ = absl::InfinitePast();
  absl::Duration final_send_lag_;

  mutable absl::Mutex mu_;
  int64_t outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Tally> tallies_;
};

void Runner::Send(int slot, absl::Time intended) {
  auto call = std::make_unique<Call>();
  call->intended = intended;
  call->slot = slot;
  call->context.set_deadline(
      absl::ToChronoTime(absl::Now() + options_.timeout));
  const uint64_t n = sent_.fetch_add(1, std::memory_order_relaxed);
  grpc::GenericStub& stub = *stubs_[n % stubs_.size()];
  grpc::CompletionQueue* cq = cqs_[n % cqs_.size()].get();
  call->reader = stub.PrepareUnaryCall(&call->context, options_.method,
                                       requests_[n % requests_.size()], cq);
  call->reader->StartCall();
  Call* raw = call.release();  // Owned by the completion queue until done.
  raw->reader->Finish(&raw->response, &raw->status, raw);
}

void Runner::CompletionLoop(int index) {
  Tally& tally = tallies_[index];
  void* tag;
  bool ok;
  while (cqs_[index]->Next(&tag, &ok)) {
    std::unique_ptr<Call> call(static_cast<Call*>(tag));
    const absl::Time now = absl::Now();
    if (call->intended >= measure_start_ && call->intended < end_) {
      const uint64_t nanos =
          static_cast<uint64_t>(absl::ToInt64Nanoseconds(now - call->intended));
      tally.all.Record(nanos);
      const int code = call->status.error_code();
      ++tally.status_codes[StatusCodeName(code)];
      if (call->status.ok()) {
        tally.ok.Record(nanos);
      } else {
        ++tally.errors[absl::StrCat(StatusCodeName(code), ": ",
                                    call->status.error_message())];
      }
    }
    if (!call->status.ok()) failed_.fetch_add(1, std::memory_order_relaxed);
    done_.fetch_add(1, std::memory_order_relaxed);
    // Closed loop: this caller goes again at once if there is time left.
    if (call->slot >= 0 && now < end_) {
      Send(call->slot, absl::Now());
    } else {
      absl::MutexLock lock(&mu_);
      --outstanding_;
    }
  }
}

void Runner::OpenLoop() {
  ArrivalSchedule schedule(options_.arrival, options_.rate, options_.seed);
  for (;;) {
    const absl::Time intended = start_ + schedule.Next();
    if (intended >= end_) break;
    timespec ts = absl::ToTimespec(intended - absl::UnixEpoch());
    // Realtime clock: absl::Now() is wall time too.
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, nullptr) != 0) {
    }
    {
      absl::MutexLock lock(&mu_);
      auto has_room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return outstanding_ < options_.concurrency;
      };
      mu_.Await(absl::Condition(&has_room));
      ++outstanding_;
    }
    if (intended >= measure_start_) {
      const absl::Time now = absl::Now();
      if (now - intended > kLateThreshold) {
        late_.fetch_add(1, std::memory_order_relaxed);
      }
      last_measured_send_ = now;
      final_send_lag_ = std::max(now - intended, absl::ZeroDuration());
    }
    Send(-1, intended);
  }
}

void Runner::ProgressLoop() {
  uint64_t last_done = 0;
  absl::Time last = absl::Now();
  while (!sending_done_.load() || !Finished()) {
    absl::SleepFor(absl::Milliseconds(100));
    const absl::Time now = absl::Now();
    if (now - last < absl::Seconds(1)) continue;
    const uint64_t done = done_.load();
    int64_t outstanding;
    {
      absl::MutexLock lock(&mu_);
      outstanding = outstanding_;
    }
    std::fprintf(stderr,
                 "[%6.1fs] sent=%lu done=%lu failed=%lu inflight=%ld "
                 "rps=%.0f%s\n",
                 absl::ToDoubleSeconds(now - start_),
                 static_cast<unsigned long>(sent_.load()),
                 static_cast<unsigned long>(done),
                 static_cast<unsigned long>(failed_.load()),
                 static_cast<long>(outstanding),
                 static_cast<double>(done - last_done) /
                     absl::ToDoubleSeconds(now - last),
                 now < measure_start_ ? " (warm-up)" : "");
    last_done = done;
    last = now;
  }
}

bool Runner::Finished() const {
  absl::MutexLock lock(&mu_);
  return outstanding_ == 0;
}

absl::StatusOr<LoadResult> Runner::Run() {
  for (const std::string& request : options_.requests) {
    grpc::Slice slice(request);
    requests_.emplace_back(&slice, 1);
  }
  for (int i = 0; i < options_.connections; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // A connection each.
    auto channel = grpc::CreateCustomChannel(
        options_.target, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(
            absl::ToChronoTime(absl::Now() + absl::Seconds(10)))) {
      return absl::UnavailableError(
          absl::StrCat("cannot connect to ", options_.target));
    }
    stubs_.push_back(std::make_unique<grpc::GenericStub>(channel));
  }
  tallies_.resize(kCompletionThreads);
  for (int i = 0; i < kCompletionThreads; ++i) {
    cqs_.push_back(std::make_unique<grpc::CompletionQueue>());
  }
  std::vector<std::thread> threads;
  threads.reserve(kCompletionThreads);
  for (int i = 0; i < kCompletionThreads; ++i) {
    threads.emplace_back([this, i] { CompletionLoop(i); });
  }

  start_ = absl::Now();
  measure_start_ = start_ + options_.warmup;
  end_ = measure_start_ + options_.duration;
  std::thread progress;
  if (options_.progress) progress = std::thread([this] { ProgressLoop(); });

  if (options_.rate > 0) {
    OpenLoop();
  } else {
    {
      absl::MutexLock lock(&mu_);
      outstanding_ = options_.concurrency;
    }
    for (int slot = 0; slot < options_.concurrency; ++slot) {
      Send(slot, absl::Now());
    }
  }
  // Wait for every call sent; each has a deadline, so this ends.
  {
    absl::MutexLock lock(&mu_);
    auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return outstanding_ == 0;
    };
    mu_.Await(absl::Condition(&drained));
  }
  sending_done_.store(true);
  for (auto& cq : cqs_) cq->Shutdown();
  for (auto& t : threads) t.join();
  if (progress.joinable()) progress.join();

  LoadResult result;
  for (const Tally& t : tallies_) {
    result.all.Merge(t.all);
    result.ok.Merge(t.ok);
    for (const auto& [k, v] : t.status_codes) result.status_codes[k] += v;
    for (const auto& [k, v] : t.errors) result.errors[k] += v;
  }
  result.late_sends = late_.load();
  result.calls_including_warmup = done_.load();
  result.final_send_lag = final_send_lag_;
  result.window =
      std::max(options_.duration, last_measured_send_ - measure_start_);
  return result;
}

}  // namespace

absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options) {
  if (options.connections < 1 || options.concurrency < 1) {
    return absl::InvalidArgumentError(
        "connections and concurrency must be at least 1");
  }
  if (options.rate < 0) return absl::InvalidArgumentError("rate must be >= 0");
  if (options.requests.empty()) {
    return absl::InvalidArgumentError("no request message to send");
  }
  Runner runner(options);
  return runner.Run();
}

}  // namespace umcg_rpc::loadgen
