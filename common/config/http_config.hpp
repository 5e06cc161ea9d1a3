// http.ini: the HTTP listener (metrics, health, the API and plugins' routes), read and validated
// once per process. Every error names the file and line of the offending key. A new key is also
// listed in known_keys.cpp (--check).
#pragma once

#include "common/config/config.hpp"
#include "common/config/smtp_config.hpp"
#include "common/util/cidr.hpp"
#include "common/util/result.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace upesi::config {

struct HttpConfig {
  std::vector<ListenAddress> listen; // empty: no HTTP server
  /// Clients allowed to connect at all; others are closed at accept.
  std::vector<util::Cidr> allow;
  /// Bearer token every request but /healthz must carry; empty: none asked (allow= alone).
  std::string token;
  /// TLS with the tls plugin's certificates (tls.ini); also on for a listener on port 443.
  bool tls = false;
  bool metrics = true;             // GET /metrics
  unsigned max_connections = 1000; // per process; more are closed at accept
  std::size_t max_target = 8192;
  std::size_t max_header_bytes = 16384;
  std::size_t max_headers = 100;
  std::size_t max_body = 10 * 1024 * 1024; // a message injected through the API fits
  int request_timeout_s = 10;
  int idle_timeout_s = 60;
  unsigned max_requests = 1000;         // per connection
  std::size_t max_output = 1024 * 1024; // unread output past which a stream or websocket drops
  int write_timeout_s = 30;
  std::size_t websocket_max_message = 65536; // from a websocket client
};

/// The booleans of http.ini, as every reader of the file must declare them.
inline const ReadOptions HttpIniBooleans{{"-main.tls", "+main.metrics"}};

Result<HttpConfig> readHttpConfig(Config& config);

} // namespace upesi::config
