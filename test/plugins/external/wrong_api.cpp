// A shared object claiming a plugin API this build does not have: the loader must refuse it
// with a clear message instead of calling into it.
#include <upesi/plugin.hpp>

extern "C" const upesi::PluginDescriptor* upesi_plugin_descriptor() {
  static const upesi::PluginDescriptor descriptor{upesi::PluginApiVersion + 41, "wrong_api", "",
                                                  nullptr};
  return &descriptor;
}
