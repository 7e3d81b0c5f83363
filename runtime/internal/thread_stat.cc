#include "runtime/internal/thread_stat.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"

namespace umcg_rpc::runtime::internal {
namespace {

// Reads a small /proc file into `buf` (NUL-terminated); returns bytes read.
ssize_t ReadSmallFile(const char* path, char* buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  if (n >= 0) buf[n] = '\0';
  return n;
}

// Built once, so that a failure allocates nothing either (the monitor
// calls this; open() fails with EMFILE when the process runs out of
// descriptors). Never destroyed.
const absl::Status& Unreadable() {
  static const absl::Status* const status = new absl::Status(
      absl::NotFoundError("cannot read /proc/self/task/<tid>/stat"));
  return *status;
}

const absl::Status& Malformed() {
  static const absl::Status* const status = new absl::Status(
      absl::InternalError("malformed /proc/self/task/<tid>/stat"));
  return *status;
}

}  // namespace

absl::StatusOr<ThreadStat> ReadThreadStat(pid_t tid) {
  char path[64];
  char buf[512];
  std::snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
  if (ReadSmallFile(path, buf, sizeof(buf)) <= 0) return Unreadable();
  // Format: "tid (comm) S ..."; comm may contain spaces and parens, so the
  // state follows the last ')'.
  const char* paren = std::strrchr(buf, ')');
  if (paren == nullptr || paren[1] != ' ' || paren[2] == '\0') {
    return Malformed();
  }
  ThreadStat stat;
  stat.state = paren[2];
  std::snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", tid);
  if (ReadSmallFile(path, buf, sizeof(buf)) > 0) {
    stat.runtime_ns = std::strtoull(buf, nullptr, 10);
  }
  return stat;
}

}  // namespace umcg_rpc::runtime::internal
