#include "common/util/ip_literal.hpp"

#include <arpa/inet.h>

namespace upesi {

bool isIpLiteral(const std::string& host) {
  unsigned char address[16];
  return ::inet_pton(AF_INET, host.c_str(), address) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), address) == 1;
}

} // namespace upesi
