// Where a filter listens, in Postfix's notation: inet:HOST:PORT, inet6:[ADDR]:PORT (or
// inet:[ADDR]:PORT), unix:/path (local:/path); Sendmail's inet:PORT@HOST and inet6:PORT@ADDR
// too. HOST is an IP address or "localhost".
#pragma once

#include "common/util/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace upesi::plugins::milter {

struct FilterSocket {
  bool unix_path = false;
  std::string ip; ///< inet: the address to connect to
  std::uint16_t port = 0;
  std::string path; ///< unix: the socket file
  std::string text; ///< as configured, for logs
};

Result<FilterSocket> parseFilterSocket(std::string_view spec);

} // namespace upesi::plugins::milter
