// The plugin contract. A plugin is a C++ class: the loader constructs it, calls registerHooks()
// once per process (master and each worker, as Haraka runs register()), and calls shutdown()
// before the process or its generation goes away (graceful reload, stop).
//
// Built-in plugins are listed in a generated table; others are shared objects in the install's
// plugins/ directory exporting UPESI_PLUGIN(...), checked against PluginApiVersion at load.
//
// Threading: every call into a plugin happens on its process's loop thread.
#pragma once

#include <upesi/hook.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace upesi {

/// Bumped on every incompatible change to the headers under upesi/.
inline constexpr std::uint32_t PluginApiVersion = 6;

class Next;
class Connection;
class Host;
struct HookParams;

/// A hook handler: Haraka's `hook_x(next, connection, params)`. Must call next exactly once,
/// now or later (see next.hpp).
using HookFunction = std::function<void(Next next, Connection& connection, const HookParams&)>;

inline constexpr int MinHookPriority = -100;
inline constexpr int MaxHookPriority = 100;

class Registrar {
public:
  virtual ~Registrar() = default;
  /// Adds `fn` to `hook`. Run order on a hook: priority (-100 first, clamped), then the order of
  /// config/plugins, then registration order. A plugin may register one hook several times.
  /// `method` names the handler in logs and in `upesi -o` (default: "hook_<hook>").
  virtual void registerHook(Hook hook, HookFunction fn, int priority = 0,
                            std::string_view method = {}) = 0;
};

/// A config file a plugin reads, so that `upesi --check` can validate it without running it.
struct ConfigFileSpec {
  std::string name;                  ///< name under config/, e.g. "relay.ini"
  std::string type;                  ///< value, list, data, ini, json, yaml or binary
  std::vector<std::string> booleans; ///< for ini: "+main.enabled", "-main.x", "*.y"
};

class Plugin {
public:
  Plugin() = default;
  virtual ~Plugin() = default;
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  /// Haraka's register(): load config and register hooks. `host` stays valid until shutdown().
  virtual void registerHooks(Host& host, Registrar& registrar) = 0;

  /// Clear timers and sockets; no hook runs after this.
  virtual void shutdown() {}

  /// The config files this plugin reads.
  virtual std::vector<ConfigFileSpec> configFiles() const { return {}; }
};

using PluginFactory = std::unique_ptr<Plugin> (*)();

/// What a shared-object plugin exports (see UPESI_PLUGIN).
struct PluginDescriptor {
  std::uint32_t api_version;
  const char* name;
  const char* help; ///< README text shown by `upesi -h NAME`
  PluginFactory create;
};

} // namespace upesi

/// Exports a plugin class from a shared object:
///   UPESI_PLUGIN(MyPlugin, "my_plugin", "What it does, how to configure it.")
#define UPESI_PLUGIN(PluginClass, plugin_name, help_text)                                          \
  extern "C" const ::upesi::PluginDescriptor* upesi_plugin_descriptor() {                          \
    static const ::upesi::PluginDescriptor descriptor{                                             \
        ::upesi::PluginApiVersion, plugin_name, help_text,                                         \
        []() -> std::unique_ptr<::upesi::Plugin> { return std::make_unique<PluginClass>(); }};     \
    return &descriptor;                                                                            \
  }
