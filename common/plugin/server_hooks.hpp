// Runs the process-level hooks (init_master, init_child, init_http, init_wss), which have no client
// connection: plugins receive a stand-in Connection with no transaction.
#pragma once

#include <upesi/connection.hpp>

#include "common/plugin/hook_result.hpp"
#include "common/plugin/hook_table.hpp"

#include <uv.h>

namespace upesi::plugin {

/// Runs `hook` until it has answered, running `loop` for asynchronous plugins. With no loop
/// (the master runs none) plugins must answer inline; one that does not counts as DENYSOFT.
/// `params` carry init_http's router and init_wss's registry.
HookResult runServerHook(uv_loop_t* loop, const HookTable& table, Hook hook,
                         const HookParams& params = {});

} // namespace upesi::plugin
