// Names of the log levels, and parsing them from config.
#pragma once

#include <upesi/log_level.hpp>

#include <optional>
#include <string_view>

namespace upesi::log {

using Level = upesi::LogLevel;

std::string_view toString(Level level);
/// Accepts a name in any case ("info", "LOGINFO", "warning") or a number 0..9.
std::optional<Level> levelFromString(std::string_view text);

} // namespace upesi::log
