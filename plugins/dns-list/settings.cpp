#include "plugins/dns-list/settings.hpp"

#include <upesi/text.hpp>

#include "common/config/ini_values.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace upesi::plugins::dns_list {

using config::iniFlag;
using config::iniInteger;
using config::iniString;
using config::iniValue;

namespace {

// Haraka's own booleans, then ours. ok_helo and ok_mail are read from any zone's section
// ("list.dnswl.org.ok_helo" would split at the first dot).
const std::vector<std::string> Booleans = {
    "-stats.enable",  "*.reject",   "*.ipv6",          "*.loopback_is_rejected",
    "*.enable",       "*.ok_helo",  "*.ok_mail",       "-main.defer_on_error",
    "+skip.relaying", "+skip.auth", "+skip.private_ip"};

bool isAddress(const std::string& key) {
  return std::count(key.begin(), key.end(), '.') == 3 &&
         key.find_first_not_of("0123456789.") == std::string::npos;
}

// A whole number in [min, max] or the fallback, with an error naming the key.
template <typename Number>
void readNumber(const nlohmann::json& ini, const std::string& section, const std::string& key,
                long long min, long long max, Number& out, std::vector<std::string>& errors) {
  const auto text = iniString(ini, section, key);
  if (text.empty()) {
    return;
  }
  auto value = iniInteger(ini, section, key);
  if (!value || *value < min || *value > max) {
    errors.push_back(fmt::format("dns-list.ini [{}] {}={} is not a whole number from {} to {}; "
                                 "using {}",
                                 section, key, text, min, max, out));
    return;
  }
  out = static_cast<Number>(*value);
}

std::vector<std::string> listValue(const nlohmann::json& value, std::string_view separators) {
  std::vector<std::string> items;
  if (value.is_array()) {
    for (const auto& item : value) {
      if (item.is_string()) {
        for (auto& part : text::splitList(item.get<std::string>(), separators)) {
          items.push_back(std::move(part));
        }
      }
    }
  } else if (value.is_string()) {
    items = text::splitList(value.get<std::string>(), separators);
  }
  return items;
}

ZoneSettings zoneSection(const nlohmann::json& ini, const std::string& name,
                         std::vector<std::string>* errors) {
  ZoneSettings zone;
  zone.name = name;
  const auto type = text::toLower(iniString(ini, name, "type", "block"));
  if (type == "allow") {
    zone.type = ListType::Allow;
  } else if (type == "karma") {
    zone.type = ListType::Karma;
  } else if (type != "block" && errors != nullptr) {
    errors->push_back(fmt::format(
        "dns-list.ini [{}] type={} is not block, allow or karma; using block", name, type));
  }
  if (iniValue(ini, name, "reject").is_boolean()) {
    zone.reject = iniFlag(ini, name, "reject");
  }
  zone.ipv6 = iniFlag(ini, name, "ipv6");
  zone.loopback_is_rejected = iniFlag(ini, name, "loopback_is_rejected");
  if (ini.contains(name) && ini[name].is_object()) {
    for (const auto& [key, value] : ini[name].items()) {
      if (isAddress(key)) {
        zone.descriptions[key] = value.is_string() ? value.get<std::string>() : value.dump();
      }
    }
  }
  return zone;
}

} // namespace

std::string_view listTypeName(ListType type) {
  switch (type) {
  case ListType::Allow:
    return "allow";
  case ListType::Karma:
    return "karma";
  case ListType::Block:
    break;
  }
  return "block";
}

const std::vector<std::string>& iniBooleans() {
  return Booleans;
}

ZoneSettings Settings::zone(const std::string& name) const {
  for (const auto& zone : zones) {
    if (zone.name == name) {
      return zone;
    }
  }
  return zoneSection(raw, name, nullptr);
}

std::vector<std::string> Settings::allZones() const {
  std::vector<std::string> names;
  auto add = [&names](const std::string& name) {
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      names.push_back(name);
    }
  };
  for (const auto& zone : zones) {
    add(zone.name);
  }
  for (const auto& site : weighted.sites) {
    add(site.zone);
  }
  return names;
}

Settings readSettings(const nlohmann::json& ini) {
  Settings settings;
  settings.raw = ini;
  auto& errors = settings.errors;
  for (const auto& name : listValue(iniValue(ini, "main", "zones"), ",; \t")) {
    const auto zone = text::toLower(name);
    if (settings.zones.size() == MaxZones) {
      errors.push_back(fmt::format("dns-list.ini [main] zones: more than {}; {} and later ones "
                                   "ignored",
                                   MaxZones, zone));
      break;
    }
    bool seen = std::any_of(settings.zones.begin(), settings.zones.end(),
                            [&zone](const ZoneSettings& z) { return z.name == zone; });
    if (!seen) {
      settings.zones.push_back(zoneSection(ini, zone, &errors));
    }
  }
  const auto search = text::toLower(iniString(ini, "main", "search", "all"));
  if (search != "first" && search != "all") {
    errors.push_back(
        fmt::format("dns-list.ini [main] search={} is not first or all; using all", search));
  }
  settings.search_first = search == "first";
  readNumber(ini, "main", "periodic_checks", 0, 7 * 24 * 60, settings.periodic_checks, errors);
  readNumber(ini, "main", "lookup_timeout", 1, 300, settings.lookup_timeout, errors);
  settings.defer_on_error = iniFlag(ini, "main", "defer_on_error");
  readNumber(ini, "main", "cache_max_entries", 0, 10000000, settings.cache_max_entries, errors);
  readNumber(ini, "main", "cache_max_ttl", 0, 7 * 24 * 3600, settings.cache_max_ttl, errors);
  readNumber(ini, "main", "cache_unlisted_ttl", 0, 7 * 24 * 3600, settings.cache_unlisted_ttl,
             errors);
  const auto reject_at = text::toLower(iniString(ini, "main", "reject_at", "connect"));
  if (reject_at != "connect" && reject_at != "mail") {
    errors.push_back(fmt::format(
        "dns-list.ini [main] reject_at={} is not connect or mail; using connect", reject_at));
  }
  settings.reject_at_mail = reject_at == "mail";
  for (const auto& zone : settings.zones) {
    if (zone.type == ListType::Allow) {
      settings.ok_helo = settings.ok_helo || iniFlag(ini, zone.name, "ok_helo");
      settings.ok_mail = settings.ok_mail || iniFlag(ini, zone.name, "ok_mail");
    }
  }
  settings.backscatterer = iniFlag(ini, "ips.backscatterer.org", "enable");
  settings.backscatterer_ipv6 = iniFlag(ini, "ips.backscatterer.org", "ipv6");
  settings.stats = iniFlag(ini, "stats", "enable");

  auto& weighted = settings.weighted;
  for (const auto& entry : listValue(iniValue(ini, "weighted", "sites"), ", \t")) {
    std::string error;
    if (weighted.sites.size() == MaxWeightedSites) {
      errors.push_back(fmt::format("dns-list.ini [weighted] sites: more than {}; {} and later "
                                   "ones ignored",
                                   MaxWeightedSites, entry));
      break;
    }
    if (auto site = parseWeightedSite(entry, error)) {
      weighted.sites.push_back(std::move(*site));
    } else {
      errors.push_back("dns-list.ini [weighted] sites: " + error);
    }
  }
  readNumber(ini, "weighted", "threshold", -1000000, 1000000, weighted.threshold, errors);
  readNumber(ini, "weighted", "allow_threshold", -1000000, 0, weighted.allow_threshold, errors);
  const auto action = text::toLower(iniString(ini, "weighted", "action", "reject"));
  if (action != "reject" && action != "defer") {
    errors.push_back(fmt::format(
        "dns-list.ini [weighted] action={} is not reject or defer; using reject", action));
  }
  weighted.action = action == "defer" ? WeightedAction::Defer : WeightedAction::Reject;
  return settings;
}

} // namespace upesi::plugins::dns_list
