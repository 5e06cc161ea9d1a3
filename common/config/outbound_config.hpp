// outbound.ini (and config/queue_dir): how relayed mail is queued and delivered. A new key is
// also listed in known_keys.cpp (--check).
#pragma once

#include "common/config/config.hpp"
#include "common/util/result.hpp"

#include <cstdint>
#include <filesystem>
#include <string>

namespace upesi::config {

struct OutboundConfig {
  std::filesystem::path queue_dir; // config/queue_dir, else <install>/queue
  bool disabled = false;           // deliveries pause; queueing goes on
  bool enable_tls = true;          // opportunistic STARTTLS (tls.ini [outbound])
  bool pipeline_messages = false;  // the next message behind a final dot (RFC 2920 3.1)
  unsigned concurrency_max = 100;  // deliveries in flight per worker
  // Of those, how many to one destination domain (0: no limit).
  unsigned destination_concurrency_max = 20;
  unsigned scheduled_max = 20000; // queue files a worker keeps in its schedule (memory)
  bool always_split = false;      // one queue file per recipient instead of per domain
  bool ipv6_enabled = false;      // try AAAA records of MX hosts
  bool local_mx_ok = false;       // allow MX hosts that resolve to local/private addresses
  // Mail for a domain of host_list that no get_mx plugin routed goes to this server's own
  // listener instead of the domain's MX (as Postfix delivers mydestination locally).
  bool deliver_host_list_locally = false;
  std::string received_header = "Upesi outbound"; // "disabled": none
  std::string temp_fail_intervals;                // Haraka's syntax; empty: from max_temp_failures
  unsigned max_temp_failures = 13;
  int connect_timeout_s = 30;
  int greeting_timeout_s = 300;       // for the MX's banner (RFC 5321 §4.5.3.2.1)
  int pool_timeout_s = 50;            // idle pooled connections close after this
  unsigned pool_concurrency_max = 10; // pooled connections per destination
  int pool_linger_s = 2;    // idle connections beyond pool_concurrency_max close after this
  int scan_interval_s = 30; // how often the queue directory is re-read
  // A bounce returns the whole original message up to this many bytes, else its header alone.
  std::uint64_t bounce_size_limit = 50000;
};

/// Reads outbound.ini (booleans declared as Haraka does) and queue_dir.
Result<OutboundConfig> readOutboundConfig(Config& config, const std::filesystem::path& install);

} // namespace upesi::config
