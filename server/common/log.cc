#include "server/common/log.h"

#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace umcg_rpc {

LogField::LogField(absl::string_view key, absl::string_view value)
    : key_(key), value_(LogfmtValue(value)) {}
LogField::LogField(absl::string_view key, int64_t value)
    : key_(key), value_(absl::StrCat(value)) {}
LogField::LogField(absl::string_view key, uint64_t value)
    : key_(key), value_(absl::StrCat(value)) {}
LogField::LogField(absl::string_view key, double value)
    : key_(key), value_(absl::StrFormat("%.3f", value)) {}
LogField::LogField(absl::string_view key, bool value)
    : key_(key), value_(value ? "true" : "false") {}

std::string LogfmtValue(absl::string_view value) {
  bool plain = !value.empty();
  for (char c : value) {
    if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f) {
      plain = false;
      break;
    }
  }
  if (plain) return static_cast<std::string>(value);
  std::string out = "\"";
  for (char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  out += '"';
  return out;
}

namespace {

absl::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "unknown";
}

}  // namespace

void Log(LogLevel level, absl::string_view msg,
         std::initializer_list<LogField> fields) {
  std::string line =
      absl::StrCat("ts=",
                   absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                    absl::UTCTimeZone()),
                   " level=", LevelName(level), " msg=", LogfmtValue(msg));
  for (const LogField& field : fields) {
    absl::StrAppend(&line, " ", field.key(), "=", field.value());
  }
  line += '\n';
  // One write(2) per line; retry on EINTR and short writes.
  absl::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    rest.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace umcg_rpc
