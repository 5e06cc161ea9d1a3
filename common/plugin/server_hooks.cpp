#include "common/plugin/server_hooks.hpp"

#include "common/plugin/hook_runner.hpp"
#include "common/plugin/process_connection.hpp"

#include <optional>

namespace upesi::plugin {

HookResult runServerHook(uv_loop_t* loop, const HookTable& table, Hook hook,
                         const HookParams& params) {
  ProcessConnection connection;
  std::optional<HookResult> outcome;
  auto runner = HookRunner::run(loop, table, hook, connection, params, "",
                                [&](HookResult result) { outcome = std::move(result); });
  while (!outcome && loop != nullptr && uv_run(loop, UV_RUN_ONCE) != 0) {
  }
  if (!outcome) {
    runner->cancel();
    return HookResult{Code::DenySoft, {"hook never answered"}, ""};
  }
  return *outcome;
}

} // namespace upesi::plugin
