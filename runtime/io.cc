#include "runtime/io.h"

#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/blocking.h"

namespace umcg_rpc::runtime {
namespace {

// A small per-thread ring; pread is used if the kernel refuses io_uring.
class ThreadRing {
 public:
  ThreadRing() { ok_ = io_uring_queue_init(8, &ring_, 0) == 0; }
  ~ThreadRing() {
    if (ok_) io_uring_queue_exit(&ring_);
  }
  ThreadRing(const ThreadRing&) = delete;
  ThreadRing& operator=(const ThreadRing&) = delete;

  bool ok() const { return ok_; }

  // Submits one read and waits for it; returns bytes or -errno.
  int64_t Read(int fd, void* buf, size_t len, off_t offset) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) return -EBUSY;
    io_uring_prep_read(sqe, fd, buf, static_cast<unsigned>(len),
                       static_cast<__u64>(offset));
    int rc = io_uring_submit(&ring_);
    if (rc < 0) return rc;
    io_uring_cqe* cqe = nullptr;
    do {
      rc = io_uring_wait_cqe(&ring_, &cqe);
    } while (rc == -EINTR);
    if (rc < 0) return rc;
    const int64_t res = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    return res;
  }

 private:
  io_uring ring_{};
  bool ok_ = false;
};

ThreadRing& Ring() {
  thread_local ThreadRing ring;
  return ring;
}

}  // namespace

bool UsingIoUring() { return Ring().ok(); }

absl::StatusOr<size_t> ReadAt(int fd, void* buf, size_t len, off_t offset) {
  if (len == 0) return 0;
  ThreadRing& ring = Ring();
  int64_t n;
  {
    BlockingScope scope;
    if (ring.ok()) {
      n = ring.Read(fd, buf, len, offset);
    } else {
      do {
        n = pread(fd, buf, len, offset);
      } while (n < 0 && errno == EINTR);
      if (n < 0) n = -errno;
    }
  }
  if (n < 0) {
    return absl::ErrnoToStatus(static_cast<int>(-n),
                               absl::StrCat("read of fd ", fd, " failed"));
  }
  return static_cast<size_t>(n);
}

absl::StatusOr<std::string> ReadFile(absl::string_view path, size_t max_bytes) {
  const std::string p(path);
  int fd;
  {
    BlockingScope scope;  // open() may block on a slow file system.
    fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", p));
  std::string out;
  absl::Status status;
  while (true) {
    const size_t chunk = size_t{64} * 1024;
    const size_t old = out.size();
    out.resize(old + chunk);
    absl::StatusOr<size_t> n =
        ReadAt(fd, out.data() + old, chunk, static_cast<off_t>(old));
    if (!n.ok()) {
      status = n.status();
      break;
    }
    out.resize(old + *n);
    if (*n == 0) break;
    if (out.size() > max_bytes) {
      status = absl::OutOfRangeError(
          absl::StrCat(p, " is larger than ", max_bytes, " bytes"));
      break;
    }
  }
  close(fd);
  if (!status.ok()) return status;
  return out;
}

}  // namespace umcg_rpc::runtime
