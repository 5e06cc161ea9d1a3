// HookTable: every hook registration of one plugin generation, in run order.
//
// Order on a hook: priority (-100 first), then the plugin's position in config/plugins, then the
// order in which the plugin registered (Haraka's rules).
#pragma once

#include <upesi/plugin.hpp>

#include "common/metrics/cached_handle.hpp"

#include <array>
#include <chrono>
#include <string>
#include <vector>

namespace upesi::plugin {

struct HookRegistration {
  Hook hook;
  std::string plugin;
  std::string method;
  int priority = 0;
  std::size_t plugin_order = 0;
  std::size_t sequence = 0;
  std::chrono::milliseconds timeout{0}; // 0: no timeout
  HookFunction fn;
  /// hook_duration_seconds{hook, plugin}: taken at the first call, kept with the entry.
  mutable metrics::CachedHandle<metrics::Histogram> duration;
};

class HookTable {
public:
  /// A Registrar bound to one plugin (its name, config order and timeout).
  class PluginRegistrar final : public Registrar {
  public:
    PluginRegistrar(HookTable& table, std::string plugin, std::size_t order,
                    std::chrono::milliseconds timeout)
        : table_(table), plugin_(std::move(plugin)), order_(order), timeout_(timeout) {}
    void registerHook(Hook hook, HookFunction fn, int priority, std::string_view method) override;

  private:
    HookTable& table_;
    std::string plugin_;
    std::size_t order_;
    std::chrono::milliseconds timeout_;
  };

  /// The registrations of `hook`, in run order.
  const std::vector<HookRegistration>& entries(Hook hook) const {
    return by_hook_[static_cast<std::size_t>(hook)];
  }
  bool empty(Hook hook) const { return entries(hook).empty(); }

private:
  void add(HookRegistration registration);

  std::array<std::vector<HookRegistration>, HookCount> by_hook_;
  std::size_t next_sequence_ = 0;
};

} // namespace upesi::plugin
