#include "plugins/limit/limit_config.hpp"

#include <upesi/text.hpp>

#include "common/config/ini_values.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <charconv>

namespace upesi::plugins::limit {
namespace {

std::optional<long long> wholeNumber(std::string_view text) {
  long long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 0) {
    return std::nullopt;
  }
  return value;
}

bool enabledIn(const nlohmann::json& ini, const std::string& section) {
  return config::iniFlag(ini, section, "enabled", false);
}

// Keys of a rate section that are settings, not lookups.
bool isSetting(const std::string& key) {
  return key == "enabled";
}

History readHistory(const nlohmann::json& ini, const std::string& section,
                    std::vector<std::string>& problems) {
  History history;
  if (!ini.contains(section) || !ini[section].is_object()) {
    return history;
  }
  const auto& s = ini[section];
  history.enabled = enabledIn(ini, section);
  if (s.contains("plugin") && s["plugin"].is_string()) {
    history.plugin = s["plugin"].get<std::string>();
  }
  for (auto [key, slot] : {std::pair{"good", &history.good}, std::pair{"bad", &history.bad},
                           std::pair{"none", &history.none}}) {
    if (!s.contains(key)) {
      continue;
    }
    *slot = parseRateSpec(config::iniText(s[key]));
    if (!*slot) {
      problems.push_back(
          fmt::format("[{}] {}: \"{}\" is not a limit", section, key, config::iniText(s[key])));
    }
  }
  return history;
}

RateTable readRate(const nlohmann::json& ini, const std::string& section,
                   std::vector<std::string>& problems) {
  RateTable table;
  table.history = readHistory(ini, section + "_history", problems);
  if (!ini.contains(section) || !ini[section].is_object()) {
    return table;
  }
  const auto& s = ini[section];
  table.enabled = enabledIn(ini, section);
  for (const auto& [key, value] : s.items()) {
    if (isSetting(key)) {
      continue;
    }
    auto spec = parseRateSpec(config::iniText(value));
    if (!spec) {
      problems.push_back(
          fmt::format("[{}] {}: \"{}\" is not a limit", section, key, config::iniText(value)));
      continue;
    }
    table.entries[text::toLower(key)] = *spec;
  }
  return table;
}

CountLimit readCount(const nlohmann::json& ini, const std::string& section,
                     std::vector<std::string>& problems) {
  CountLimit limit;
  limit.history = readHistory(ini, section + "_history", problems);
  if (!ini.contains(section) || !ini[section].is_object()) {
    return limit;
  }
  const auto& s = ini[section];
  limit.enabled = enabledIn(ini, section);
  if (s.contains("max")) {
    auto max = wholeNumber(config::iniText(s["max"]));
    if (!max) {
      problems.push_back(
          fmt::format("[{}] max: \"{}\" is not a number", section, config::iniText(s["max"])));
    } else {
      limit.max = *max;
    }
  }
  return limit;
}

// A whole number of seconds within [low, high] from `section`'s `key`, else a problem.
void readSeconds(const nlohmann::json& ini, const std::string& section, const char* key,
                 long long low, long long high, long long& out,
                 std::vector<std::string>& problems) {
  if (!ini.contains(section) || !ini[section].is_object() || !ini[section].contains(key)) {
    return;
  }
  const auto text = config::iniText(ini[section][key]);
  auto value = wholeNumber(text);
  if (!value || *value < low || *value > high) {
    problems.push_back(
        fmt::format("[{}] {}: \"{}\" is not {} to {} seconds", section, key, text, low, high));
    return;
  }
  out = *value;
}

OutboundLimit readOutbound(const nlohmann::json& ini, std::vector<std::string>& problems) {
  OutboundLimit limit;
  if (!ini.contains("outbound") || !ini["outbound"].is_object()) {
    return limit;
  }
  limit.enabled = enabledIn(ini, "outbound");
  readSeconds(ini, "outbound", "delay", 1, 86400, limit.delay_s, problems);
  readSeconds(ini, "outbound", "lease", 3, 3600, limit.lease_s, problems);
  for (const auto& [key, value] : ini["outbound"].items()) {
    if (key == "enabled" || key == "delay" || key == "lease") {
      continue;
    }
    auto max = wholeNumber(config::iniText(value));
    if (!max) {
      problems.push_back(
          fmt::format("[outbound] {}: \"{}\" is not a number", key, config::iniText(value)));
      continue;
    }
    limit.max[text::toLower(key)] = *max;
  }
  return limit;
}

std::optional<RateMatch> lookup(const RateTable& table, const std::string& key,
                                const std::string& count_key) {
  if (auto it = table.entries.find(key); it != table.entries.end()) {
    return RateMatch{count_key, it->second};
  }
  return std::nullopt;
}

// `domain` (lower-case) and then its parents, each counted under what matched.
std::optional<RateMatch> lookupDomain(const RateTable& table, std::string domain) {
  while (!domain.empty()) {
    if (auto match = lookup(table, domain, domain)) {
      return match;
    }
    const auto dot = domain.find('.');
    domain = dot == std::string::npos ? std::string() : domain.substr(dot + 1);
  }
  return std::nullopt;
}

} // namespace

std::optional<RateSpec> parseRateSpec(std::string_view text) {
  text = text::trim(text);
  RateSpec spec;
  const auto slash = text.find('/');
  auto limit = wholeNumber(text.substr(0, slash));
  if (!limit) {
    return std::nullopt;
  }
  spec.limit = *limit;
  if (slash == std::string_view::npos) {
    return spec;
  }
  auto time = text.substr(slash + 1);
  long long unit = 1;
  if (!time.empty() && (time.back() < '0' || time.back() > '9')) {
    switch (text::toLower(time.back())) {
    case 's':
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      return std::nullopt;
    }
    time.remove_suffix(1);
  }
  auto quantity = wholeNumber(time);
  if (!quantity || *quantity == 0 || *quantity > 366LL * 86400 / unit) {
    return std::nullopt;
  }
  spec.window_s = *quantity * unit;
  return spec;
}

std::vector<std::string> ipLookups(const std::string& ip) {
  std::vector<std::string> out;
  in_addr v4{};
  in6_addr v6{};
  std::vector<std::string> parts;
  char separator = '.';
  if (::inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    const auto* b = reinterpret_cast<const unsigned char*>(&v4.s_addr);
    for (int i = 0; i < 4; ++i) {
      parts.push_back(std::to_string(b[i]));
    }
  } else if (::inet_pton(AF_INET6, ip.c_str(), &v6) == 1) {
    separator = ':';
    for (int i = 0; i < 16; i += 2) {
      parts.push_back(fmt::format("{:x}", (v6.s6_addr[i] << 8) | v6.s6_addr[i + 1]));
    }
  } else {
    return out;
  }
  for (std::size_t n = parts.size(); n > 0; --n) {
    std::string joined;
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0) {
        joined += separator;
      }
      joined += parts[i];
    }
    out.push_back(std::move(joined));
  }
  return out;
}

std::optional<RateSpec> historyLimit(const History& history, std::optional<double> score) {
  if (!history.enabled || !score) {
    return std::nullopt;
  }
  return *score > 0 ? history.good : *score < 0 ? history.bad : history.none;
}

std::optional<RateMatch> RateTable::forClient(const std::string& ip, const std::string& rdns,
                                              std::optional<double> history_score) const {
  for (const auto& form : ipLookups(ip)) {
    if (auto match = lookup(*this, form, form)) {
      return match;
    }
  }
  if (auto match = lookupDomain(*this, text::toLower(rdns))) {
    return match;
  }
  if (auto spec = historyLimit(history, history_score)) {
    return RateMatch{ip, *spec};
  }
  return lookup(*this, "default", ip);
}

std::optional<RateMatch> RateTable::forAddress(const std::string& address) const {
  const std::string lower = text::toLower(address);
  if (auto match = lookup(*this, lower, lower)) {
    return match;
  }
  const auto at = lower.rfind('@');
  if (at != std::string::npos) {
    if (auto match = lookupDomain(*this, lower.substr(at + 1))) {
      return match;
    }
  }
  return lookup(*this, "default", lower);
}

std::optional<RateMatch> RateTable::forDomain(const std::string& domain) const {
  const std::string lower = text::toLower(domain);
  if (auto match = lookupDomain(*this, lower)) {
    return match;
  }
  return lookup(*this, "default", lower);
}

long long OutboundLimit::maxFor(const std::string& domain) const {
  auto it = max.find(text::toLower(domain));
  return it == max.end() ? 0 : it->second;
}

const std::vector<std::string>& limitIniBooleans() {
  static const std::vector<std::string> booleans = {"-concurrency.enabled",
                                                    "-recipients.enabled",
                                                    "-unrecognized_commands.enabled",
                                                    "-errors.enabled",
                                                    "-rate_conn.enabled",
                                                    "-rate_rcpt_host.enabled",
                                                    "-rate_rcpt_sender.enabled",
                                                    "-rate_rcpt.enabled",
                                                    "-rate_rcpt_null.enabled",
                                                    "-concurrency_history.enabled",
                                                    "-recipients_history.enabled",
                                                    "-rate_conn_history.enabled",
                                                    "-outbound.enabled",
                                                    "-rate_outbound.enabled"};
  return booleans;
}

LimitConfig readLimitConfig(const nlohmann::json& ini) {
  LimitConfig cfg;
  auto& problems = cfg.problems;
  // Haraka's file has tarpit_delay before any section; [main] holds it here too.
  readSeconds(ini, "main", "tarpit_delay", 0, 300, cfg.tarpit_delay_s, problems);
  cfg.concurrency = readCount(ini, "concurrency", problems);
  readSeconds(ini, "concurrency", "lease", 3, 3600, cfg.concurrency_lease_s, problems);
  cfg.recipients = readCount(ini, "recipients", problems);
  if (ini.contains("recipients") && ini["recipients"].contains("max_relaying")) {
    const auto text = config::iniText(ini["recipients"]["max_relaying"]);
    if (auto n = wholeNumber(text)) {
      cfg.max_relaying = *n;
    } else {
      problems.push_back(fmt::format("[recipients] max_relaying: \"{}\" is not a number", text));
    }
  }
  cfg.unrecognized_commands = readCount(ini, "unrecognized_commands", problems);
  cfg.errors = readCount(ini, "errors", problems);
  cfg.rate_conn = readRate(ini, "rate_conn", problems);
  cfg.rate_rcpt_host = readRate(ini, "rate_rcpt_host", problems);
  cfg.rate_rcpt_sender = readRate(ini, "rate_rcpt_sender", problems);
  cfg.rate_rcpt = readRate(ini, "rate_rcpt", problems);
  cfg.rate_rcpt_null = readRate(ini, "rate_rcpt_null", problems);
  cfg.outbound = readOutbound(ini, problems);
  cfg.rate_outbound = readRate(ini, "rate_outbound", problems);
  return cfg;
}

} // namespace upesi::plugins::limit
