// Command-line parsing for the small tools (load generator, burst client):
// one exit status for bad flags, whatever CLI11 calls the error.
#ifndef UMCG_RPC_SERVER_COMMON_FLAG_PARSING_H_
#define UMCG_RPC_SERVER_COMMON_FLAG_PARSING_H_

#include <optional>

#include "CLI/CLI.hpp"

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

}  // namespace umcg_rpc

#endif  // UMCG_RPC_SERVER_COMMON_FLAG_PARSING_H_
