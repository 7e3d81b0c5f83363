#include "runtime/futex_hash.h"

#include <errno.h>
#include <sys/prctl.h>

#include <algorithm>
#include <bit>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

// From <linux/prctl.h> of Linux 6.16; Debian 12's headers predate them.
#ifndef PR_FUTEX_HASH
#define PR_FUTEX_HASH 78
#define PR_FUTEX_HASH_SET_SLOTS 1
#define PR_FUTEX_HASH_GET_SLOTS 2
#endif

namespace umcg_rpc::runtime {
namespace {

// Smallest table the kernel hands out by itself.
constexpr int kMinFutexHashBuckets = 16;

}  // namespace

absl::StatusOr<int> FutexHashBuckets() {
  const int buckets = prctl(PR_FUTEX_HASH, PR_FUTEX_HASH_GET_SLOTS, 0, 0, 0);
  if (buckets >= 0) return buckets;
  if (errno == EINVAL) {
    return absl::UnimplementedError(
        "the kernel has no per-process futex hash (PR_FUTEX_HASH)");
  }
  return absl::ErrnoToStatus(errno, "prctl(PR_FUTEX_HASH_GET_SLOTS)");
}

absl::StatusOr<int> EnsureFutexHashBuckets(int threads) {
  absl::StatusOr<int> current = FutexHashBuckets();
  if (absl::IsUnimplemented(current.status())) return 0;  // Global only.
  if (!current.ok()) return current.status();
  const int wanted = static_cast<int>(std::bit_ceil(static_cast<unsigned>(
      std::clamp(threads, kMinFutexHashBuckets, kMaxFutexHashBuckets))));
  if (*current >= wanted) return *current;
  // With 0, either the process has no table of its own yet (a SET creates
  // one) or it was switched to the global table for good (EBUSY).
  if (prctl(PR_FUTEX_HASH, PR_FUTEX_HASH_SET_SLOTS, wanted, 0, 0) != 0) {
    if (errno == EBUSY && *current == 0) return 0;
    return absl::ErrnoToStatus(
        errno, absl::StrCat("prctl(PR_FUTEX_HASH_SET_SLOTS, ", wanted, ")"));
  }
  return wanted;
}

}  // namespace umcg_rpc::runtime
