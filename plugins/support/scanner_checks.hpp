// Which connections a scanner plugin (spamassassin, clamd) leaves alone, from its ini's [check]
// section as Haraka's plugins read it: authenticated, relay, local_ip and private_ip are all
// checked unless set to false; a private address that is loopback is left to local_ip.
#pragma once

#include <upesi/connection.hpp>

#include "common/config/ini_values.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace upesi::plugins {

/// Every reason that applies ("authed", "relay", "local_ip", "private_ip"), in Haraka's order.
inline std::vector<std::string> uncheckedReasons(const nlohmann::json& ini,
                                                 const Connection& connection) {
  auto off = [&](const char* key) {
    const auto& value = config::iniValue(ini, "check", key);
    return value.is_boolean() && !value.get<bool>();
  };
  std::vector<std::string> reasons;
  if (off("authenticated") && !connection.authUser().empty()) {
    reasons.emplace_back("authed");
  }
  if (off("relay") && connection.relaying()) {
    reasons.emplace_back("relay");
  }
  const auto& remote = connection.remote();
  if (off("local_ip") && remote.is_local) {
    reasons.emplace_back("local_ip");
  }
  if (off("private_ip") && remote.is_private && (off("local_ip") || !remote.is_local)) {
    reasons.emplace_back("private_ip");
  }
  return reasons;
}

} // namespace upesi::plugins
