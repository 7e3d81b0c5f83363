// The file a server's read steps pread() from.
#ifndef UMCG_RPC_SERVER_WORKLOAD_DATA_FILE_H_
#define UMCG_RPC_SERVER_WORKLOAD_DATA_FILE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/common/unique_fd.h"

namespace umcg_rpc::workload {

// A read-only file of known size. Thread-safe: reads use pread(2).
class DataFile {
 public:
  // Opens an existing regular file read-only.
  static absl::StatusOr<std::unique_ptr<DataFile>> Open(
      const std::string& path);

  // Creates an unnamed file of `size` bytes of deterministic pseudo-random
  // content in directory `dir`; nothing is left behind when it closes.
  static absl::StatusOr<std::unique_ptr<DataFile>> CreateTemporary(
      const std::string& dir, uint64_t size);

  // Size in bytes, fixed when the file was opened.
  uint64_t size() const { return size_; }

  // Where the file came from, for log lines.
  const std::string& description() const { return description_; }

  // Fills `buffer` from `offset`: OUT_OF_RANGE if that passes the end,
  // INTERNAL with errno text if pread(2) fails.
  absl::Status ReadAt(uint64_t offset, std::span<char> buffer) const;

 private:
  DataFile(UniqueFd fd, uint64_t size, std::string description)
      : fd_(std::move(fd)), size_(size), description_(std::move(description)) {}

  UniqueFd fd_;
  uint64_t size_;
  std::string description_;
};

}  // namespace umcg_rpc::workload

#endif  // UMCG_RPC_SERVER_WORKLOAD_DATA_FILE_H_
