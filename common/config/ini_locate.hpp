// Finds where a key is set, so that a value that parses but makes no sense ("nodes=lots") can
// still be reported as file:line.
#pragma once

#include "common/config/config.hpp"

#include <string>

namespace upesi::config {

/// "path:line" of `[section] key` in the install's file (else the defaults' file, else the
/// install path alone).
std::string iniKeyLocation(const Config& config, const std::string& name,
                           const std::string& section, const std::string& key);

} // namespace upesi::config
