// An owned file descriptor, closed when it goes out of scope.
#ifndef UMCG_RPC_SERVER_COMMON_UNIQUE_FD_H_
#define UMCG_RPC_SERVER_COMMON_UNIQUE_FD_H_

#include <unistd.h>

#include <utility>

namespace umcg_rpc {

// Owns one file descriptor; move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

  // Closes the owned descriptor, if any, and takes ownership of `fd`.
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace umcg_rpc

#endif  // UMCG_RPC_SERVER_COMMON_UNIQUE_FD_H_
