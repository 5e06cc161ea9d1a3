// Haraka's plugins.deprecated: old plugin names an operator's config/plugins may still list,
// and the plugin that does their work now. Only the names whose replacement is built in are
// here; a plugin by the old name itself (built in or a shared object) still wins.
#pragma once

#include <optional>
#include <string_view>

namespace upesi::plugin {

/// The plugin that replaced `name` ("dnsbl" -> "dns-list"), or nullopt.
std::optional<std::string_view> replacementFor(std::string_view name);

} // namespace upesi::plugin
