// This server's name as every process gives it: config/me, else the host name, else
// "localhost". The server's greeting and Received fields, and sendmail's, use it.
#pragma once

#include "common/config/config.hpp"

#include <string>

namespace upesi::config {

std::string serverName(Config& config);

} // namespace upesi::config
