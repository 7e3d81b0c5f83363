#include "runtime/options.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace umcg_rpc::runtime {

absl::StatusOr<BackendKind> ParseBackendKind(absl::string_view text) {
  if (text == "auto") return BackendKind::kAuto;
  if (text == "kernel") return BackendKind::kKernel;
  if (text == "fallback") return BackendKind::kFallback;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown backend '", text, "': expected auto, kernel or fallback"));
}

absl::string_view BackendKindName(BackendKind kind) {
  switch (kind) {
    case BackendKind::kAuto:
      return "auto";
    case BackendKind::kKernel:
      return "kernel";
    case BackendKind::kFallback:
      return "fallback";
  }
  return "unknown";
}

}  // namespace umcg_rpc::runtime
