// What the small tools (load generator, burst client) share around their
// main(): one exit status for bad flags, whatever CLI11 calls the error, and
// no exception escaping main().
#ifndef UMCG_RPC_SERVER_COMMON_TOOL_MAIN_H_
#define UMCG_RPC_SERVER_COMMON_TOOL_MAIN_H_

#include <cstdio>
#include <exception>
#include <optional>

#include "CLI/CLI.hpp"
#include "server/common/lock_checks.h"

namespace umcg_rpc {

// Exit status of a tool given flags it cannot use (CLI11's own codes,
// 105-115, would each mean something different to a script).
inline constexpr int kExitBadFlags = 2;

// Parses `argv` into `app`. Returns nullopt to go on, or the status to exit
// with at once: 0 after printing --help, kExitBadFlags after printing what
// is wrong with the flags.
inline std::optional<int> ParseFlags(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitBadFlags;
  }
  return std::nullopt;
}

// Runs `body` as the tool `name`'s main(): release lock checks first, and an
// exception that escapes `body` becomes a message on stderr and exit 1.
inline int RunTool(const char* name, int (*body)(int, char**), int argc,
                   char** argv) {
  UseReleaseLockChecks();
  try {
    return body(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 1;
  }
}

}  // namespace umcg_rpc

#endif  // UMCG_RPC_SERVER_COMMON_TOOL_MAIN_H_
