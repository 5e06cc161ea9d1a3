// Readers for each config format. Pure functions over a file's bytes: no I/O, so each one is
// unit-tested with hostile input. Errors name the file and the line.
#pragma once

#include "common/config/config_type.hpp"
#include "common/config/ini_parser.hpp"
#include "common/util/result.hpp"

#include <nlohmann/json.hpp>

#include <string_view>
#include <vector>

namespace upesi::config {

/// Parses `bytes` read from `filename` as `type`. Binary is returned as a JSON binary value.
Result<nlohmann::json> parseConfig(ConfigType type, std::string_view bytes,
                                   std::string_view filename,
                                   const std::vector<BooleanDecl>& booleans = {});

/// What a reader gets when the file does not exist.
nlohmann::json emptyConfig(ConfigType type);

/// Merges `override_value` into `base` key by key (objects recursively); other values replace.
void deepMerge(nlohmann::json& base, const nlohmann::json& override_value);

} // namespace upesi::config
