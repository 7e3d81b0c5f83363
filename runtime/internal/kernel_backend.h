// Backend on the patched kernel's UMCG syscalls (kernel/include/uapi/linux/
// umcg.h): discovery, and creation of the backend.
#ifndef UMCG_RPC_RUNTIME_INTERNAL_KERNEL_BACKEND_H_
#define UMCG_RPC_RUNTIME_INTERNAL_KERNEL_BACKEND_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/internal/backend.h"

namespace umcg_rpc::runtime::internal {

// Syscall numbers read from the kernel's sysfs discovery files.
struct UmcgSyscalls {
  long nr_umcg_ctl = -1;
  long nr_umcg_wait = -1;
};

// Reads UMCG_SYSFS_* and checks the ABI version; NOT_FOUND if the kernel
// has no UMCG, FAILED_PRECONDITION on an ABI mismatch.
absl::StatusOr<UmcgSyscalls> DiscoverUmcg();

// OK if DiscoverUmcg() succeeds; otherwise its status.
absl::Status ProbeKernelUmcg();

// Creates the kernel backend, or explains why it cannot be used.
absl::StatusOr<std::unique_ptr<Backend>> CreateKernelBackend();

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_KERNEL_BACKEND_H_
