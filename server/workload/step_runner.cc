#include "server/workload/step_runner.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "server/workload/fnv.h"
#include "server/workload/spin.h"
#include "server/workload/validation.h"

namespace umcg_rpc::workload {
namespace {

using umcgrpc::v1::RunRequest;
using umcgrpc::v1::RunResponse;
using umcgrpc::v1::Step;
using umcgrpc::v1::StepResult;

absl::Status DeadlineError(int index) {
  return absl::DeadlineExceededError(
      absl::StrCat("deadline passed during steps[", index, "]"));
}

// OK when the call may go on to its next step.
absl::Status CheckAlive(const StepContext& context, int index) {
  if (context.cancellation->cancelled()) {
    return context.cancellation->reason();
  }
  if (absl::Now() >= context.deadline) return DeadlineError(index);
  return absl::OkStatus();
}

absl::Status RunSpin(const umcgrpc::v1::SpinStep& spin,
                     const StepContext& context, int index,
                     StepResult& result) {
  bool deadline_hit = false;
  SpinResult spun =
      SpinCpu(absl::Microseconds(spin.micros()), [&context, &deadline_hit] {
        if (context.cancellation->cancelled()) return true;
        deadline_hit = absl::Now() >= context.deadline;
        return deadline_hit;
      });
  if (spun.stopped_early) {
    return deadline_hit ? DeadlineError(index) : context.cancellation->reason();
  }
  result.set_work(spun.iterations);
  result.set_checksum(spun.digest);
  return absl::OkStatus();
}

absl::Status RunSleep(const umcgrpc::v1::SleepStep& sleep,
                      const StepContext& context, int index) {
  const absl::Time wake = absl::Now() + absl::Microseconds(sleep.micros());
  const absl::Time until = std::min(wake, context.deadline);
  if (!context.cancellation->SleepUntil(until)) {
    return context.cancellation->reason();
  }
  if (until < wake) return DeadlineError(index);
  return absl::OkStatus();
}

absl::Status RunRead(const umcgrpc::v1::ReadStep& read,
                     const StepContext& context, StepResult& result) {
  std::string buffer(read.bytes(), '\0');
  if (absl::Status s = context.data_file->ReadAt(read.offset(), buffer);
      !s.ok()) {
    return s;
  }
  result.set_work(buffer.size());
  result.set_checksum(Fnv1a64(buffer));
  return absl::OkStatus();
}

absl::Status RunDownstream(const umcgrpc::v1::DownstreamStep& step,
                           const StepContext& context) {
  if (context.downstream == nullptr) {
    return absl::FailedPreconditionError(
        "downstream step, but this server was started without --downstream");
  }
  return context.downstream->CallSleep(step.sleep_micros(), context.deadline,
                                       *context.cancellation,
                                       context.downstream_queue);
}

absl::Status RunStep(const Step& step, const StepContext& context, int index,
                     StepResult& result) {
  switch (step.kind_case()) {
    case Step::kSpin:
      return RunSpin(step.spin(), context, index, result);
    case Step::kSleep:
      return RunSleep(step.sleep(), context, index);
    case Step::kRead:
      return RunRead(step.read(), context, result);
    case Step::kDownstream:
      return RunDownstream(step.downstream(), context);
    case Step::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("steps[", index, "] has no kind"));
}

}  // namespace

absl::StatusOr<RunResponse> RunSteps(const RunRequest& request,
                                     const StepContext& context) {
  if (absl::Status s = ValidateRun(request); !s.ok()) return s;
  const absl::Time start = absl::Now();
  RunResponse response;
  for (int i = 0; i < request.steps_size(); ++i) {
    if (absl::Status s = CheckAlive(context, i); !s.ok()) return s;
    const absl::Time step_start = absl::Now();
    StepResult* result = response.add_results();
    if (absl::Status s = RunStep(request.steps(i), context, i, *result);
        !s.ok()) {
      return s;
    }
    result->set_elapsed_nanos(
        absl::ToInt64Nanoseconds(absl::Now() - step_start));
  }
  response.set_elapsed_nanos(absl::ToInt64Nanoseconds(absl::Now() - start));
  return response;
}

}  // namespace umcg_rpc::workload
