// Haraka's own config files read as aliases of our keys, so that a Haraka install's config/
// works here: connection.ini (limits, greeting) for smtp.ini, the flat files loglevel and
// log_timestamps for log.ini. A key the install's own file sets wins over its Haraka alias.
// Every Haraka key found gives one notice naming the key to use instead, or saying it is
// ignored. A new alias is also listed in known_keys.cpp (connection.ini) and README.md.
#pragma once

#include "common/config/config.hpp"
#include "common/util/result.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace upesi::config {

/// A value taken from a Haraka file, with where it was set ("path:line") and what it is
/// called there ("[max] bytes"), for error messages.
struct AliasedValue {
  nlohmann::json value;
  std::string location;
  std::string haraka_name;
};

struct HarakaAliases {
  std::map<std::string, AliasedValue> smtp; ///< smtp.ini [main] key -> value the install lacks
  std::map<std::string, AliasedValue> log;  ///< log.ini [main] key -> value the install lacks
  std::vector<std::string> notices;         ///< one per Haraka key found, in file order
};

/// Reads connection.ini, loglevel and log_timestamps of the install. Errors (a file that does
/// not parse) name file and line; values are checked by the readers of our keys.
Result<HarakaAliases> readHarakaAliases(Config& config);

} // namespace upesi::config
