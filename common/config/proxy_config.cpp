#include "common/config/proxy_config.hpp"

#include "common/config/ini_locate.hpp"

#include <fmt/format.h>

#include <string>

namespace upesi::config {
namespace {

Result<bool> readEnabled(const Config& config, const nlohmann::json& value) {
  if (value.is_null() || value.is_boolean()) {
    return value.is_null() || value.get<bool>();
  }
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (text == "true" || text == "yes" || text == "1" || text == "on" || text.empty()) {
      return true;
    }
    if (text == "false" || text == "no" || text == "0" || text == "off") {
      return false;
    }
  }
  if (value.is_number_integer()) {
    return value.get<long long>() != 0;
  }
  return Error{fmt::format("{}: [haproxy] enabled must be true or false, not {}",
                           iniKeyLocation(config, "connection.ini", "haproxy", "enabled"),
                           value.dump())};
}

// One value of hosts: addresses and CIDRs, separated by commas or blanks.
Result<std::monostate> addHosts(const Config& config, const std::string& text,
                                std::vector<util::Cidr>& out) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto start = text.find_first_not_of(", \t", i);
    if (start == std::string::npos) {
      break;
    }
    const auto end = std::min(text.find_first_of(", \t", start), text.size());
    const auto item = std::string_view(text).substr(start, end - start);
    auto cidr = util::Cidr::parse(item);
    if (!cidr) {
      return Error{fmt::format("{}: [haproxy] hosts: \"{}\" is not an address or a CIDR",
                               iniKeyLocation(config, "connection.ini", "haproxy", "hosts"), item)};
    }
    out.push_back(*cidr);
    i = end;
  }
  return std::monostate{};
}

} // namespace

Result<ProxyTrust> readProxyTrust(Config& config) {
  auto ini = config.get("connection.ini", ConfigType::Ini);
  if (!ini) {
    return Error{ini.error()};
  }
  ProxyTrust trust;
  if (!ini->contains("haproxy") || !(*ini)["haproxy"].is_object()) {
    return trust;
  }
  const auto& section = (*ini)["haproxy"];
  auto enabled =
      readEnabled(config, section.contains("enabled") ? section["enabled"] : nlohmann::json());
  if (!enabled) {
    return Error{enabled.error()};
  }
  if (!section.contains("hosts")) {
    return trust;
  }
  const auto& hosts = section["hosts"];
  std::vector<util::Cidr> cidrs;
  auto add = [&](const nlohmann::json& value) -> Result<std::monostate> {
    if (value.is_null()) {
      return std::monostate{};
    }
    if (!value.is_string()) {
      return Error{fmt::format("{}: [haproxy] hosts must list addresses, not {}",
                               iniKeyLocation(config, "connection.ini", "haproxy", "hosts"),
                               value.dump())};
    }
    return addHosts(config, value.get<std::string>(), cidrs);
  };
  if (hosts.is_array()) {
    for (const auto& value : hosts) {
      if (auto r = add(value); !r) {
        return Error{r.error()};
      }
    }
  } else if (auto r = add(hosts); !r) {
    return Error{r.error()};
  }
  if (*enabled) {
    trust.hosts = std::move(cidrs);
  }
  return trust;
}

} // namespace upesi::config
