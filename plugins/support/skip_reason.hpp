// Which clients a checking plugin leaves alone, from its ini's [skip] section: relaying and
// authenticated clients (roaming users on 587 come from anywhere) and private addresses.
#pragma once

#include <upesi/connection.hpp>

#include "common/config/ini_values.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace upesi::plugins {

/// Why `connection` is not checked under `ini`'s [skip] relaying, auth and private_ip flags
/// ("relay", "auth", "private_ip"), or "" when it is. A missing key does not skip: give each
/// plugin's default with its ini booleans ("+skip.relaying").
inline std::string skipReason(const nlohmann::json& ini, const Connection& connection) {
  if (config::iniFlag(ini, "skip", "relaying") && connection.relaying()) {
    return "relay";
  }
  if (config::iniFlag(ini, "skip", "auth") && !connection.authUser().empty()) {
    return "auth";
  }
  if (config::iniFlag(ini, "skip", "private_ip") && connection.remote().is_private) {
    return "private_ip";
  }
  return {};
}

} // namespace upesi::plugins
