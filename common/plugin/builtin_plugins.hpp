// The plugins compiled into the binary. The table is generated at build time from the plugin
// folders listed in plugins/meson.build (nginx's ngx_modules.c idea: explicit, no static
// initialisers).
#pragma once

#include <upesi/plugin.hpp>

#include <span>
#include <string_view>

namespace upesi::plugin {

struct BuiltinPlugin {
  std::string_view name;
  std::string_view help; // the plugin's README.md
  PluginFactory create;
};

std::span<const BuiltinPlugin> builtinPlugins();

} // namespace upesi::plugin
