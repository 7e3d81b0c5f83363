#include "server/common/log.h"

#include "gtest/gtest.h"

namespace umcg_rpc {
namespace {

TEST(LogfmtValueTest, PlainTokensStayBare) {
  EXPECT_EQ(LogfmtValue("epoll"), "epoll");
  EXPECT_EQ(LogfmtValue("127.0.0.1:50051"), "127.0.0.1:50051");
}

TEST(LogfmtValueTest, OthersAreQuotedAndEscaped) {
  EXPECT_EQ(LogfmtValue(""), "\"\"");
  EXPECT_EQ(LogfmtValue("two words"), "\"two words\"");
  EXPECT_EQ(LogfmtValue("a=b"), "\"a=b\"");
  EXPECT_EQ(LogfmtValue("say \"hi\"\\\n"), "\"say \\\"hi\\\"\\\\\\n\"");
}

TEST(LogTest, WritesOneLineWithFieldsToStderr) {
  testing::internal::CaptureStderr();
  Log(LogLevel::kWarning, "hello world", {{"n", 3}, {"mode", "epoll"}});
  std::string out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(out.find("ts="), 0u);
  EXPECT_NE(out.find(" level=warning msg=\"hello world\" n=3 mode=epoll\n"),
            std::string::npos)
      << out;
}

}  // namespace
}  // namespace umcg_rpc
