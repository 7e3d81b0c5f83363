#include "server/workload/validation.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "server/workload/limits.h"

namespace umcg_rpc::workload {
namespace {

using umcgrpc::v1::Step;

absl::Status TooLarge(int index, absl::string_view field, uint64_t value,
                      uint64_t limit) {
  return absl::InvalidArgumentError(
      absl::StrCat("steps[", index, "].", field, " = ", value,
                   " exceeds the limit of ", limit));
}

}  // namespace

absl::Status ValidateEcho(const umcgrpc::v1::EchoRequest& request) {
  if (request.payload().size() > kMaxEchoPayloadBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("payload is ", request.payload().size(),
                     " bytes; the limit is ", kMaxEchoPayloadBytes));
  }
  return absl::OkStatus();
}

absl::Status ValidateRun(const umcgrpc::v1::RunRequest& request) {
  if (request.steps_size() > kMaxSteps) {
    return absl::InvalidArgumentError(
        absl::StrCat("request has ", request.steps_size(),
                     " steps; the limit is ", kMaxSteps));
  }
  uint64_t total_micros = 0;
  for (int i = 0; i < request.steps_size(); ++i) {
    const Step& step = request.steps(i);
    switch (step.kind_case()) {
      case Step::kSpin:
        if (step.spin().micros() > kMaxSpinMicros) {
          return TooLarge(i, "spin.micros", step.spin().micros(),
                          kMaxSpinMicros);
        }
        total_micros += step.spin().micros();
        break;
      case Step::kSleep:
        if (step.sleep().micros() > kMaxSleepMicros) {
          return TooLarge(i, "sleep.micros", step.sleep().micros(),
                          kMaxSleepMicros);
        }
        total_micros += step.sleep().micros();
        break;
      case Step::kRead:
        if (step.read().bytes() == 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("steps[", i, "].read.bytes must be at least 1"));
        }
        if (step.read().bytes() > kMaxReadBytes) {
          return TooLarge(i, "read.bytes", step.read().bytes(), kMaxReadBytes);
        }
        break;
      case Step::kDownstream:
        if (step.downstream().sleep_micros() > kMaxSleepMicros) {
          return TooLarge(i, "downstream.sleep_micros",
                          step.downstream().sleep_micros(), kMaxSleepMicros);
        }
        total_micros += step.downstream().sleep_micros();
        break;
      case Step::KIND_NOT_SET:
        return absl::InvalidArgumentError(
            absl::StrCat("steps[", i,
                         "] has no kind: set one of spin, sleep, read, "
                         "downstream"));
    }
  }
  if (total_micros > kMaxTotalMicros) {
    return absl::InvalidArgumentError(
        absl::StrCat("the steps' spin, sleep and downstream times add up to ",
                     total_micros, " us; the limit is ", kMaxTotalMicros));
  }
  return absl::OkStatus();
}

}  // namespace umcg_rpc::workload
