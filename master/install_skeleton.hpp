// `upesi -i DIR`: creates an install directory from the shipped skeleton. Existing files are
// never overwritten, so running it again only fills in what is missing.
#pragma once

#include "common/util/result.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace upesi::master {

/// Returns the paths it created.
Result<std::vector<std::string>> installSkeleton(const std::filesystem::path& dir);

} // namespace upesi::master
