// File reads through io_uring that release the worker's CPU while waiting.
#ifndef UMCG_RPC_RUNTIME_IO_H_
#define UMCG_RPC_RUNTIME_IO_H_

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace umcg_rpc::runtime {

// Reads up to `len` bytes at `offset` of `fd` into `buf` via the calling
// thread's io_uring (created on first use; pread if io_uring is
// unavailable), inside a BlockingScope. Returns the byte count (0 at EOF).
absl::StatusOr<size_t> ReadAt(int fd, void* buf, size_t len, off_t offset);

// Reads a whole file (at most `max_bytes`, else OUT_OF_RANGE) with ReadAt.
absl::StatusOr<std::string> ReadFile(absl::string_view path,
                                     size_t max_bytes = 64 << 20);

// True if the calling thread reads through io_uring (false: pread).
bool UsingIoUring();

}  // namespace umcg_rpc::runtime

#endif  // UMCG_RPC_RUNTIME_IO_H_
