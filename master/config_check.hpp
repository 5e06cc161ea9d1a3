// `upesi --check`: everything start-up would read, read now, with every error as file:line.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace upesi::master {

/// Returns the errors found (empty: the install is good to run).
std::vector<std::string> checkInstall(const std::filesystem::path& install_dir);

} // namespace upesi::master
