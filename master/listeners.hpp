// The master binds every listener before anything else (before dropping privileges, before
// forking), as plain sockets that workers inherit.
#pragma once

#include "common/config/smtp_config.hpp"
#include "common/util/result.hpp"

#include <vector>

namespace upesi::master {

/// Binds and listens on each address; returns the fds (close-on-exec: the spawner passes them
/// on explicitly). On failure nothing stays open.
Result<std::vector<int>> bindListeners(const std::vector<config::ListenAddress>& addresses);

} // namespace upesi::master
