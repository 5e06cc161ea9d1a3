// dns-list.ini as the plugin uses it: Haraka's zones and per-zone sections, plus the lookup
// timeout, the verdict cache and postscreen-style weighted sites. Reading never throws: a bad
// value is reported in `errors` and its default stays.
#pragma once

#include "plugins/dns-list/weighted_sites.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace upesi::plugins::dns_list {

enum class ListType { Block, Allow, Karma };

std::string_view listTypeName(ListType type);

struct ZoneSettings {
  std::string name;
  ListType type = ListType::Block;
  bool reject = true;
  bool ipv6 = false;
  bool loopback_is_rejected = false;
  std::map<std::string, std::string> descriptions; ///< answer address -> meaning ("SBL")
};

enum class WeightedAction { Reject, Defer };

struct WeightedSettings {
  std::vector<WeightedSite> sites;
  long long threshold = 1;       ///< postscreen_dnsbl_threshold
  long long allow_threshold = 0; ///< postscreen_dnsbl_allowlist_threshold (< 0 to use)
  WeightedAction action = WeightedAction::Reject;
};

inline constexpr std::size_t MaxZones = 64;

struct Settings {
  std::vector<ZoneSettings> zones; ///< [main] zones, in order, each with its section
  bool search_first = false;
  unsigned periodic_checks = 30; ///< minutes; 0: none, under 5: once at start
  unsigned lookup_timeout = 8;   ///< seconds for all of a client's lookups
  bool defer_on_error = false;
  std::size_t cache_max_entries = 10000;
  unsigned cache_max_ttl = 3600;     ///< seconds
  unsigned cache_unlisted_ttl = 300; ///< seconds, for answers without a TTL (NXDOMAIN)
  bool reject_at_mail = false;       ///< [main] reject_at=mail
  bool ok_helo = false;
  bool ok_mail = false;
  bool backscatterer = false;
  bool backscatterer_ipv6 = false;
  bool stats = false;
  WeightedSettings weighted;
  std::vector<std::string> errors;

  /// The zone's settings: a [main] zone's, else a weighted site's zone section, else defaults.
  ZoneSettings zone(const std::string& name) const;
  /// Every zone to ask about a client, each once: [main] zones, then weighted sites' zones.
  std::vector<std::string> allZones() const;

  nlohmann::json raw; ///< the ini, for zone sections
};

/// The ini booleans the plugin declares when reading dns-list.ini.
const std::vector<std::string>& iniBooleans();

/// Reads dns-list.ini (as Host::config returns it).
Settings readSettings(const nlohmann::json& ini);

} // namespace upesi::plugins::dns_list
