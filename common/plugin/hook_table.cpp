#include "common/plugin/hook_table.hpp"

#include <algorithm>
#include <tuple>

namespace upesi::plugin {

void HookTable::PluginRegistrar::registerHook(Hook hook, HookFunction fn, int priority,
                                              std::string_view method) {
  HookRegistration r;
  r.hook = hook;
  r.plugin = plugin_;
  r.method = method.empty() ? "hook_" + std::string(toString(hook)) : std::string(method);
  r.priority = std::clamp(priority, MinHookPriority, MaxHookPriority);
  r.plugin_order = order_;
  r.timeout = timeout_;
  r.fn = std::move(fn);
  table_.add(std::move(r));
}

void HookTable::add(HookRegistration registration) {
  registration.sequence = next_sequence_++;
  auto& list = by_hook_[static_cast<std::size_t>(registration.hook)];
  auto key = [](const HookRegistration& r) {
    return std::tie(r.priority, r.plugin_order, r.sequence);
  };
  auto pos = std::upper_bound(
      list.begin(), list.end(), registration,
      [&](const HookRegistration& a, const HookRegistration& b) { return key(a) < key(b); });
  list.insert(pos, std::move(registration));
}

} // namespace upesi::plugin
