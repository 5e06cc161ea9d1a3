// smtp.ini: listeners and the process model, read and validated once. Every error names the
// file and line of the offending key.
#pragma once

#include "common/config/config.hpp"
#include "common/util/result.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace upesi::config {

struct ListenAddress {
  std::string host; // numeric IPv4 or IPv6 (without brackets)
  std::uint16_t port = 25;
  bool ipv6 = false;
  std::string toString() const;
};

/// Parses one entry of `listen`: "1.2.3.4:25", "[::1]:2525", "[::0]:25", "2525" (all IPv6 and
/// IPv4 addresses, as "[::0]"), or an address without a port (port 25).
Result<ListenAddress> parseListenAddress(std::string_view text);

struct SmtpConfig {
  std::vector<ListenAddress> listen;
  int nodes = 1; // 0: serve in the master
  std::string user;
  std::string group;
  int inactivity_timeout_s = 300;
  int force_shutdown_timeout_s = 30;
};

Result<SmtpConfig> readSmtpConfig(Config& config);

} // namespace upesi::config
