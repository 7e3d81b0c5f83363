// Structured log lines in logfmt: `ts=... level=info msg="..." key=value ...`.
#ifndef UMCG_RPC_SERVER_COMMON_LOG_H_
#define UMCG_RPC_SERVER_COMMON_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <string>

#include "absl/strings/string_view.h"

namespace umcg_rpc {

// How severe a log line is.
enum class LogLevel { kInfo, kWarning, kError };

// One `key=value` pair of a log line; the value is rendered at construction.
class LogField {
 public:
  LogField(absl::string_view key, absl::string_view value);
  LogField(absl::string_view key, const std::string& value)
      : LogField(key, absl::string_view(value)) {}
  LogField(absl::string_view key, const char* value)
      : LogField(key, absl::string_view(value)) {}
  LogField(absl::string_view key, int64_t value);
  LogField(absl::string_view key, int value)
      : LogField(key, static_cast<int64_t>(value)) {}
  LogField(absl::string_view key, uint64_t value);
  LogField(absl::string_view key, double value);
  LogField(absl::string_view key, bool value);

  absl::string_view key() const { return key_; }
  const std::string& value() const { return value_; }

 private:
  absl::string_view key_;
  std::string value_;
};

// Writes one line to stderr atomically (a single write(2)), so lines from
// concurrent threads never interleave.
void Log(LogLevel level, absl::string_view msg,
         std::initializer_list<LogField> fields = {});

// Renders `value` for logfmt: bare when it is a plain token, else quoted with
// `"` and `\` escaped. Exposed for tests.
std::string LogfmtValue(absl::string_view value);

}  // namespace umcg_rpc

#endif  // UMCG_RPC_SERVER_COMMON_LOG_H_
