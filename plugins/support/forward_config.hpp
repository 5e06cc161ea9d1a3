// What smtp_forward.ini and lmtp.ini say: the route of [main] and of each per-domain section,
// and which address's domain picks the section. Reading is pure: JSON in, a struct and the
// problems found out; nothing is logged here.
#pragma once

#include <upesi/connection.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace upesi::plugins {

struct ForwardRoute {
  std::string host;
  std::uint16_t port = 25;
  bool enable_outbound = true;
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds command_timeout{30};
  std::string section = "main"; ///< where the route came from, for logs
};

struct ForwardConfig {
  ForwardRoute main;
  std::map<std::string, ForwardRoute> domains; ///< lower-cased section name → route
  bool select_by_sender = false;               ///< domain_selector=mail_from
};

/// How the two plugins differ.
struct ForwardKind {
  std::string config_file; ///< "smtp_forward.ini"
  bool lmtp = false;
  std::string default_host; ///< "" : none (a route without a host declines)
  std::uint16_t default_port = 25;
};

/// A config as read, with one line per bad value; a bad value is ignored, not fatal.
struct ForwardConfigReading {
  ForwardConfig config;
  std::vector<std::string> problems;
};

/// Reads the plugin's ini file: [main] then one section per domain, each domain inheriting
/// what it does not set from [main].
ForwardConfigReading readForwardConfig(const nlohmann::json& ini, const ForwardKind& kind);

/// The route for a transaction: the section of the first recipient's domain (or the sender's,
/// with domain_selector=mail_from), else [main].
const ForwardRoute& selectRoute(const ForwardConfig& config, Transaction& txn);

} // namespace upesi::plugins
