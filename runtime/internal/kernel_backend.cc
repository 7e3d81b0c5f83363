#include "runtime/internal/kernel_backend.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "kernel/include/uapi/linux/umcg.h"

namespace umcg_rpc::runtime::internal {
namespace {

// Reads one decimal number from a sysfs file.
absl::StatusOr<long> ReadNumber(const char* path) {
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) {
    const int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    }
    return absl::UnavailableError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(err)));
  }
  char buf[32] = {};
  const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  long value = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::string_view(buf, n)),
                        &value)) {
    return absl::DataLossError(absl::StrCat(path, ": not a number"));
  }
  return value;
}

}  // namespace

absl::StatusOr<UmcgSyscalls> DiscoverUmcg() {
  absl::StatusOr<long> abi = ReadNumber(UMCG_SYSFS_ABI_VERSION);
  if (!abi.ok()) {
    if (absl::IsNotFound(abi.status())) {
      return absl::NotFoundError(absl::StrCat(
          UMCG_SYSFS_ABI_VERSION,
          " is absent: this kernel has no UMCG (not the patched kernel)"));
    }
    return abi.status();
  }
  if (*abi != UMCG_ABI_VERSION) {
    return absl::FailedPreconditionError(
        absl::StrCat("kernel UMCG ABI version ", *abi, ", runtime built for ",
                     UMCG_ABI_VERSION));
  }
  UmcgSyscalls nr;
  absl::StatusOr<long> ctl = ReadNumber(UMCG_SYSFS_NR_UMCG_CTL);
  if (!ctl.ok()) return ctl.status();
  absl::StatusOr<long> wait = ReadNumber(UMCG_SYSFS_NR_UMCG_WAIT);
  if (!wait.ok()) return wait.status();
  nr.nr_umcg_ctl = *ctl;
  nr.nr_umcg_wait = *wait;
  return nr;
}

absl::Status ProbeKernelUmcg() { return DiscoverUmcg().status(); }

absl::StatusOr<std::unique_ptr<Backend>> CreateKernelBackend() {
  absl::StatusOr<UmcgSyscalls> nr = DiscoverUmcg();
  if (!nr.ok()) return nr.status();
  // Discovery works, but the switch path is not written yet: refuse loudly
  // rather than pretend (see docs/runtime.md "Kernel backend status").
  return absl::UnimplementedError(absl::StrCat(
      "kernel UMCG found (umcg_ctl=", nr->nr_umcg_ctl,
      ", umcg_wait=", nr->nr_umcg_wait,
      ") but the runtime's kernel backend is not implemented yet: missing "
      "server/worker registration, umcg_wait switch, idle-list draining "
      "and UMCG_TF_PREEMPTED preemption"));
}

}  // namespace umcg_rpc::runtime::internal
