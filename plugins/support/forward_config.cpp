#include "plugins/support/forward_config.hpp"

#include <upesi/text.hpp>

#include <fmt/format.h>

#include <utility>

namespace upesi::plugins {
namespace {

// connect_timeout and command_timeout: an hour is more than any next hop needs.
constexpr long long MaxTimeoutSeconds = 3600;
constexpr long long MaxPort = 65535;

std::string textValue(const nlohmann::json& value) {
  if (value.is_string()) {
    return value.get<std::string>();
  }
  if (value.is_number_integer()) {
    return std::to_string(value.get<long long>());
  }
  if (value.is_boolean()) {
    return value.get<bool>() ? "true" : "false";
  }
  return {};
}

/// haraka-config's truth test; a value that is no word at all keeps `fallback`.
bool truthy(const nlohmann::json& value, bool fallback) {
  if (value.is_boolean()) {
    return value.get<bool>();
  }
  const std::string word = textValue(value);
  if (word.empty()) {
    return fallback;
  }
  return text::isTruthy(word);
}

bool positiveNumber(const nlohmann::json& value, long long max, long long& out) {
  const std::string text = textValue(value);
  if (text.empty() || text.size() > 9) {
    return false;
  }
  long long n = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
    n = n * 10 + (c - '0');
  }
  if (n < 1 || n > max) {
    return false;
  }
  out = n;
  return true;
}

/// Overlays the keys of one ini section on `route`; bad values are reported and ignored.
void applySection(const nlohmann::json& section, ForwardRoute& route,
                  std::vector<std::string>& problems, const std::string& name) {
  if (!section.is_object()) {
    return;
  }
  long long n = 0;
  if (section.contains("host")) {
    route.host = textValue(section["host"]);
  }
  if (section.contains("port")) {
    if (positiveNumber(section["port"], MaxPort, n)) {
      route.port = static_cast<std::uint16_t>(n);
    } else {
      problems.push_back(fmt::format("[{}] port: not a port number", name));
    }
  }
  if (section.contains("enable_outbound")) {
    route.enable_outbound = truthy(section["enable_outbound"], route.enable_outbound);
  }
  if (section.contains("connect_timeout")) {
    if (positiveNumber(section["connect_timeout"], MaxTimeoutSeconds, n)) {
      route.connect_timeout = std::chrono::seconds(n);
    } else {
      problems.push_back(fmt::format("[{}] connect_timeout: not a number of seconds", name));
    }
  }
  if (section.contains("command_timeout")) {
    if (positiveNumber(section["command_timeout"], MaxTimeoutSeconds, n)) {
      route.command_timeout = std::chrono::seconds(n);
    } else {
      problems.push_back(fmt::format("[{}] command_timeout: not a number of seconds", name));
    }
  }
}

} // namespace

ForwardConfigReading readForwardConfig(const nlohmann::json& ini, const ForwardKind& kind) {
  ForwardConfigReading reading;
  ForwardConfig& config = reading.config;
  config.main.host = kind.default_host;
  config.main.port = kind.default_port;
  if (!ini.is_object()) {
    return reading;
  }
  if (ini.contains("main")) {
    const auto& main = ini["main"];
    applySection(main, config.main, reading.problems, "main");
    if (main.is_object() && main.contains("domain_selector")) {
      const std::string selector = text::toLower(textValue(main["domain_selector"]));
      if (selector == "mail_from") {
        config.select_by_sender = true;
      } else if (selector != "rcpt_to") {
        reading.problems.push_back(
            fmt::format("[main] domain_selector: '{}' is neither rcpt_to nor mail_from", selector));
      }
    }
  }
  for (const auto& [name, section] : ini.items()) {
    if (name == "main" || !section.is_object()) {
      continue;
    }
    ForwardRoute route = config.main;
    route.section = text::toLower(name);
    applySection(section, route, reading.problems, name);
    config.domains[route.section] = std::move(route);
  }
  return reading;
}

const ForwardRoute& selectRoute(const ForwardConfig& config, Transaction& txn) {
  std::string domain;
  if (config.select_by_sender) {
    domain = txn.mailFrom().host;
  } else if (!txn.rcptTo().empty()) {
    domain = txn.rcptTo().front().host;
  }
  auto it = config.domains.find(text::toLower(domain));
  return it == config.domains.end() ? config.main : it->second;
}

} // namespace upesi::plugins
