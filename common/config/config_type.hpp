// The file formats haraka-config reads, and how a name maps to one.
#pragma once

#include <optional>
#include <string_view>

namespace upesi::config {

enum class ConfigType { Value, List, Data, Ini, Json, Yaml, Binary };

std::string_view toString(ConfigType type);
std::optional<ConfigType> configTypeFromString(std::string_view name);

/// The type implied by a file name's extension (.ini, .json, .yaml/.yml), else Value.
ConfigType inferConfigType(std::string_view name);

} // namespace upesi::config
