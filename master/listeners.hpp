// The master binds every listener before anything else (before dropping privileges, before
// forking), as plain sockets that workers inherit.
#pragma once

#include "common/config/config.hpp"
#include "common/config/smtp_config.hpp"
#include "common/util/result.hpp"

#include <vector>

namespace upesi::master {

/// Binds and listens on each address; returns the fds (close-on-exec: the spawner passes them
/// on explicitly). On failure nothing stays open.
Result<std::vector<int>> bindListeners(const std::vector<config::ListenAddress>& addresses);

struct ServerListeners {
  std::vector<int> smtp;
  std::vector<int> http; // empty when http.ini has no listen
  std::vector<config::ListenAddress> http_addresses;
};

/// smtp.ini's listeners and http.ini's, logged; on failure nothing stays open.
Result<ServerListeners> bindServerListeners(config::Config& config, const config::SmtpConfig& smtp);

} // namespace upesi::master
