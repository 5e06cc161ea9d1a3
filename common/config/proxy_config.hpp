// The proxies trusted to send a PROXY protocol header (connection.ini [haproxy], as Haraka):
// a connection from one of `hosts` must start with the header, which then names the client.
#pragma once

#include "common/config/config.hpp"
#include "common/util/cidr.hpp"
#include "common/util/result.hpp"

#include <vector>

namespace upesi::config {

struct ProxyTrust {
  std::vector<util::Cidr> hosts; // empty: no PROXY header is accepted from anyone

  bool trusts(const util::IpAddress& ip) const {
    for (const auto& cidr : hosts) {
      if (cidr.contains(ip)) {
        return true;
      }
    }
    return false;
  }
};

/// connection.ini [haproxy] hosts[] (addresses or CIDRs; a value may list several, separated
/// by commas or blanks) and enabled (default true; false trusts nobody). A value that is not
/// an address names its file and line.
Result<ProxyTrust> readProxyTrust(Config& config);

} // namespace upesi::config
