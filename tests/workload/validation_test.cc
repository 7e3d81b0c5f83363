#include "server/workload/validation.h"

#include <string>

#include "gtest/gtest.h"
#include "server/workload/limits.h"

namespace umcg_rpc::workload {
namespace {

using umcgrpc::v1::EchoRequest;
using umcgrpc::v1::RunRequest;

TEST(ValidateEchoTest, AcceptsPayloadUpToTheLimit) {
  EchoRequest request;
  request.set_payload(std::string(kMaxEchoPayloadBytes, 'x'));
  EXPECT_TRUE(ValidateEcho(request).ok());
}

TEST(ValidateEchoTest, RejectsPayloadOverTheLimit) {
  EchoRequest request;
  request.set_payload(std::string(kMaxEchoPayloadBytes + 1, 'x'));
  absl::Status s = ValidateEcho(request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("limit"), absl::string_view::npos) << s;
}

TEST(ValidateRunTest, EmptyRequestIsValid) {
  EXPECT_TRUE(ValidateRun(RunRequest()).ok());
}

TEST(ValidateRunTest, AcceptsEveryStepKindWithinLimits) {
  RunRequest request;
  request.add_steps()->mutable_spin()->set_micros(kMaxSpinMicros);
  request.add_steps()->mutable_sleep()->set_micros(1000);
  request.add_steps()->mutable_read()->set_bytes(kMaxReadBytes);
  request.add_steps()->mutable_downstream()->set_sleep_micros(1000);
  EXPECT_TRUE(ValidateRun(request).ok());
}

struct BadCase {
  const char* name;
  void (*build)(RunRequest&);
  const char* expected_text;
};

class ValidateRunBadTest : public testing::TestWithParam<BadCase> {};

TEST_P(ValidateRunBadTest, IsInvalidArgumentNamingTheField) {
  RunRequest request;
  GetParam().build(request);
  absl::Status s = ValidateRun(request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find(GetParam().expected_text), absl::string_view::npos)
      << s;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ValidateRunBadTest,
    testing::Values(
        BadCase{"TooManySteps",
                [](RunRequest& r) {
                  for (int i = 0; i <= kMaxSteps; ++i) {
                    r.add_steps()->mutable_spin()->set_micros(1);
                  }
                },
                "steps; the limit is"},
        BadCase{"StepWithoutKind", [](RunRequest& r) { r.add_steps(); },
                "steps[0] has no kind"},
        BadCase{"SpinTooLong",
                [](RunRequest& r) {
                  r.add_steps()->mutable_spin()->set_micros(kMaxSpinMicros + 1);
                },
                "steps[0].spin.micros"},
        BadCase{"SleepTooLong",
                [](RunRequest& r) {
                  r.add_steps()->mutable_spin()->set_micros(1);
                  r.add_steps()->mutable_sleep()->set_micros(kMaxSleepMicros +
                                                             1);
                },
                "steps[1].sleep.micros"},
        BadCase{"ReadOfZeroBytes",
                [](RunRequest& r) { r.add_steps()->mutable_read(); },
                "steps[0].read.bytes must be at least 1"},
        BadCase{"ReadTooLarge",
                [](RunRequest& r) {
                  r.add_steps()->mutable_read()->set_bytes(kMaxReadBytes + 1);
                },
                "steps[0].read.bytes"},
        BadCase{"DownstreamTooLong",
                [](RunRequest& r) {
                  r.add_steps()->mutable_downstream()->set_sleep_micros(
                      kMaxSleepMicros + 1);
                },
                "steps[0].downstream.sleep_micros"},
        BadCase{"TotalTooLong",
                [](RunRequest& r) {
                  r.add_steps()->mutable_sleep()->set_micros(kMaxSleepMicros);
                  r.add_steps()->mutable_spin()->set_micros(1);
                },
                "add up to"}),
    [](const testing::TestParamInfo<BadCase>& param) {
      return param.param.name;
    });

}  // namespace
}  // namespace umcg_rpc::workload
