// FNV-1a, 64-bit: the digest a read step reports over the bytes it read.
#ifndef UMCG_RPC_SERVER_WORKLOAD_FNV_H_
#define UMCG_RPC_SERVER_WORKLOAD_FNV_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace umcg_rpc::workload {

inline constexpr uint64_t kFnv64Offset = 0xcbf29ce484222325ULL;
inline constexpr uint64_t kFnv64Prime = 0x100000001b3ULL;

// Folds `bytes` into the running digest `hash` (start from kFnv64Offset).
constexpr uint64_t Fnv1a64(absl::string_view bytes,
                           uint64_t hash = kFnv64Offset) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= kFnv64Prime;
  }
  return hash;
}

}  // namespace umcg_rpc::workload

#endif  // UMCG_RPC_SERVER_WORKLOAD_FNV_H_
