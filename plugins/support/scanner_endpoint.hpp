// Where a content scanner daemon listens, as Haraka's spamd_socket and clamd_socket give it:
// "/path/to/socket", "host:port", "host", "[ipv6]:port", "[ipv6]" (or a bare IPv6 address),
// with the daemon's own port when none is written.
#pragma once

#include "common/util/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::plugins {

struct ScannerEndpoint {
  std::string path; ///< a unix socket; host and port are unused then
  std::string host; ///< a name or an IP address, without brackets
  std::uint16_t port = 0;

  bool isUnix() const { return !path.empty(); }
  /// As written for logs: the path, "host:port" or "[v6]:port".
  std::string text() const;
};

Result<ScannerEndpoint> parseScannerEndpoint(std::string_view text, std::uint16_t default_port);

/// clamd_socket's list: endpoints separated by commas, semicolons or spaces, as Haraka splits it.
std::vector<std::string> splitScannerList(std::string_view text);

} // namespace upesi::plugins
