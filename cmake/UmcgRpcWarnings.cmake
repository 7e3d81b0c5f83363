# umcg_rpc_warnings(<target>): the warning set every target of ours builds with.
function(umcg_rpc_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
                         -Wnon-virtual-dtor -Wimplicit-fallthrough)
  if(UMCG_RPC_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
