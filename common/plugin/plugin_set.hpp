// PluginSet: one generation of plugins — config/plugins read in order, each plugin found (a
// shared object in the install's plugins/ directory, or the built-in table; a shared object with
// a built-in's name is an error), constructed, registered, and later shut down. A shared object
// is closed only after its plugin instance is destroyed.
#pragma once

#include "common/config/config.hpp"
#include "common/plugin/hook_table.hpp"
#include "common/plugin/plugin_host.hpp"
#include "common/util/result.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace upesi::plugin {

struct PluginInfo {
  std::string name;
  std::string origin; // "built-in" or the shared object's path
  std::string help;
};

struct LoadedPlugin {
  PluginInfo info;
  std::unique_ptr<PluginHost> host;
  std::unique_ptr<Plugin> instance;
};

/// Finds a plugin by name without constructing it (for -h). Errors name what was wrong.
Result<PluginInfo> findPlugin(const std::string& name, const std::filesystem::path& install_dir);

/// Every plugin available: built-ins and shared objects under <install>/plugins.
std::vector<PluginInfo> availablePlugins(const std::filesystem::path& install_dir);

class PluginSet {
public:
  /// Reads config/plugins and loads every plugin named there. Errors name the file and line.
  /// `services` must outlive the set.
  static Result<std::unique_ptr<PluginSet>>
  load(config::Config& config, const std::filesystem::path& install_dir, ProcessServices& services);
  ~PluginSet();
  PluginSet(const PluginSet&) = delete;
  PluginSet& operator=(const PluginSet&) = delete;

  const HookTable& hooks() const { return hooks_; }
  const std::vector<LoadedPlugin>& plugins() const { return plugins_; }

  /// Calls every plugin's shutdown() once, in reverse order.
  void shutdown();

private:
  PluginSet() = default;

  HookTable hooks_;
  std::vector<LoadedPlugin> plugins_;
  std::vector<void*> libraries_;
  bool shut_down_ = false;
};

} // namespace upesi::plugin
