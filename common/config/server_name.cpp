#include "common/config/server_name.hpp"

#include <unistd.h>

namespace upesi::config {

std::string serverName(Config& config) {
  std::string me = config.getString("me");
  if (!me.empty()) {
    return me;
  }
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0') {
    return host;
  }
  return "localhost";
}

} // namespace upesi::config
