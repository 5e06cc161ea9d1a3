// Runs the process-level hooks (init_master, init_child), which have no client connection:
// plugins receive a stand-in Connection with no transaction.
#pragma once

#include "common/plugin/hook_table.hpp"
#include "worker/hooks/hook_result.hpp"

#include <uv.h>

namespace upesi::worker {

/// Runs `hook` on `loop` until it has answered (the loop is run for asynchronous plugins).
HookResult runServerHook(uv_loop_t* loop, const plugin::HookTable& table, Hook hook);

} // namespace upesi::worker
